"""The scanner's imperative shell: a thread per port, pyserial, reconnect.

Bytes go through the pure ``scanner.ScanDecoder``; each Scan goes to
``on_scan`` (the app puts it on the engine queue), and every change of the
port's health goes to ``on_status`` as ``DeviceStatus("scanner/<id>")``: a
lane whose scanner is down must mark its transaction unverified instead of
accusing anyone. Nothing a scanner sends, and no unplug, ends the thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

from edge_app.config import ScannerConfig
from edge_app.devices.scanner import ScanDecoder
from edge_app.events import ComponentState, DeviceStatus, Scan

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 0.1  # also how quickly stop() is noticed


def backoff_delays(initial_ms: int, max_ms: int):
    """Reconnect delays in seconds: doubling from initial up to max.

    >>> d = backoff_delays(500, 3000); [next(d) for _ in range(5)]
    [0.5, 1.0, 2.0, 3.0, 3.0]
    """
    delay = initial_ms
    while True:
        yield min(delay, max_ms) / 1000.0
        delay = min(delay * 2, max_ms)


class ScannerReader:
    """Reads one scanner port in its own thread until ``stop()``.

    Args:
        config: the lane's ``ScannerConfig`` (port, baudrate, framing, backoff).
        clock: the lane's monotonic clock; stamps each Scan when its line ends.
        on_scan: called from the reader thread for every accepted Scan.
        on_status: called on every ok/down change of the port.
        on_heartbeat: called every loop turn (about 10 per second), for the
            watchdog: a live thread beats even while the port is down.
    """

    def __init__(
        self,
        config: ScannerConfig,
        clock: Callable[[], float],
        on_scan: Callable[[Scan], None],
        on_status: Callable[[DeviceStatus], None],
        on_heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.on_scan = on_scan
        self.on_status = on_status
        self.on_heartbeat = on_heartbeat
        self.component = f"scanner/{config.id}"
        self.decoder = ScanDecoder.from_config(config)
        self.status: ComponentState = "down"
        self.detail: str = "not started"
        self._status_sent = False
        self._bytes_received = 0
        self._reconnects = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._port: serial.SerialBase | None = None

    # ------------------------------------------------------------------ API

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"scanner-{self.config.id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._close()

    @property
    def bytes_received(self) -> int:
        """Bytes read *and* handed on (their scans already delivered)."""
        with self._cond:
            return self._bytes_received

    def wait_for_bytes(self, count: int, timeout_s: float) -> bool:
        """Block until ``bytes_received >= count``: replay stays deterministic."""
        with self._cond:
            return self._cond.wait_for(lambda: self._bytes_received >= count, timeout_s)

    @property
    def stats(self) -> dict:
        """Snapshot: bytes_received, scans, reconnects and drops by reason."""
        with self._cond:
            out: dict[str, int | str] = dict(self.decoder.counters)
            out["bytes_received"] = self._bytes_received
            out["reconnects"] = self._reconnects
            out["status"] = self.status
        return out

    # --------------------------------------------------------------- thread

    def _run(self) -> None:
        delays = backoff_delays(self.config.reconnect_initial_ms, self.config.reconnect_max_ms)
        while not self._stop.is_set():
            self._beat()
            try:
                self._open()
            except (serial.SerialException, OSError, ValueError) as exc:
                self._set_status("down", f"cannot open {self.config.port}: {exc}")
                self._sleep(next(delays))
                continue
            delays = backoff_delays(self.config.reconnect_initial_ms, self.config.reconnect_max_ms)
            self._set_status("ok", f"open {self.config.port} at {self.config.baudrate} baud")
            try:
                self._read_until_gone()
            except (serial.SerialException, OSError, TypeError) as exc:
                # TypeError: pyserial on a port closed under it by stop()
                if not self._stop.is_set():
                    self._reconnects += 1
                    self._set_status("down", f"disconnected: {exc}")
            finally:
                self._close()
                self.decoder.framer.reset()
            if not self._stop.is_set():
                self._sleep(next(delays))

    def _open(self) -> None:
        self._port = serial.serial_for_url(
            self.config.port,
            baudrate=self.config.baudrate,
            timeout=READ_TIMEOUT_S,
            exclusive=True,
        )

    def _read_until_gone(self) -> None:
        port = self._port
        assert port is not None
        while not self._stop.is_set():
            self._beat()
            data = port.read(max(1, port.in_waiting))
            if not data:
                continue
            ts = self.clock()
            try:
                scans = self.decoder.feed(data, ts)
            except Exception:  # the core should never raise; if it does, keep the lane up
                log.exception("%s: decoder failed on %r", self.component, data[:64])
                scans = []
            for scan in scans:
                self._deliver(self.on_scan, scan)
            with self._cond:
                self._bytes_received += len(data)
                self._cond.notify_all()

    def _set_status(self, status: ComponentState, detail: str) -> None:
        self.detail = detail
        if status == self.status and self._status_sent:
            return
        self.status = status
        self._status_sent = True
        log.info("%s %s: %s", self.component, status, detail)
        self._deliver(
            self.on_status,
            DeviceStatus(ts=self.clock(), component=self.component, status=status, detail=detail),
        )

    def _deliver(self, callback: Callable, item) -> None:
        try:
            callback(item)
        except Exception:
            log.exception("%s: callback %r failed", self.component, callback)

    def _beat(self) -> None:
        beat = self.on_heartbeat
        if beat is not None:
            self._deliver(lambda _: beat(), None)

    def _sleep(self, seconds: float) -> None:
        """Back off, still beating the watchdog and noticing stop()."""
        end = time.monotonic() + seconds  # real time: the lane clock may be a replay's
        while not self._stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(min(left, READ_TIMEOUT_S))
            self._beat()

    def _close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass
