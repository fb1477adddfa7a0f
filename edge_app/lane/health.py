"""Liveness for systemd, and the box's vital signs for the ``stats`` topic.

``Watchdog`` pings systemd (``WATCHDOG=1``) only while every registered loop
(frames, scanner reader, engine, …) has called ``beat(name)`` within its own
``max_age_s``. A stalled main loop therefore stops the pings and systemd
restarts the lane after ``WatchdogSec=``, instead of the process sitting alive
and blind. ``healthy(now)`` and ``stale(now)`` only read recorded beats: the
decision is pure and the clock is injected; the ping loop is a thread.

>>> t = [0.0]
>>> wd = Watchdog(clock=lambda: t[0])
>>> wd.register("frames", max_age_s=2.0)
>>> wd.healthy(1.0)
True
>>> wd.stale(5.0)
['frames']
>>> wd.beat("frames"); t[0] = 5.0; wd.beat("frames"); wd.healthy(6.0)
True
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)


class Notifier(Protocol):
    def notify(self, state: str) -> None: ...


def systemd_notifier() -> Notifier:
    """sd_notify over ``$NOTIFY_SOCKET``; silently does nothing outside systemd."""
    import sdnotify

    return sdnotify.SystemdNotifier()


def watchdog_interval_s(env=os.environ, default_s: float = 5.0) -> float:
    """Ping at half of systemd's ``WatchdogSec`` (``$WATCHDOG_USEC``), as sd_watchdog_enabled(3) advises.

    >>> watchdog_interval_s({"WATCHDOG_USEC": "10000000"})
    5.0
    """
    usec = env.get("WATCHDOG_USEC")
    pid = env.get("WATCHDOG_PID")
    if usec and (not pid or pid == str(os.getpid())):
        try:
            return max(int(usec) / 2e6, 0.01)
        except ValueError:
            pass
    return default_s


class Watchdog:
    """Heartbeats in, systemd pings out.

    Args:
        clock: monotonic seconds (the lane's clock).
        notifier: anything with ``notify(str)``; default sd_notify via sdnotify.
        interval_s: ping period; default half of ``$WATCHDOG_USEC``.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        notifier: Notifier | None = None,
        interval_s: float | None = None,
    ) -> None:
        self.clock = clock
        self.notifier = notifier
        self.interval_s = interval_s if interval_s is not None else watchdog_interval_s()
        self._max_age: dict[str, float] = {}
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._ready_sent = False
        self._last_status = ""
        self.pings = 0
        self.ticks = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --------------------------------------------------------------- beats

    def register(self, name: str, max_age_s: float) -> None:
        """A loop that must beat at least every ``max_age_s``; its clock starts now."""
        with self._lock:
            self._max_age[name] = max_age_s
            self._last[name] = self.clock()

    def unregister(self, name: str) -> None:
        with self._lock:
            self._max_age.pop(name, None)
            self._last.pop(name, None)

    def beat(self, name: str) -> None:
        with self._lock:
            if name in self._max_age:
                self._last[name] = self.clock()

    def stale(self, now: float) -> list[str]:
        """Registered loops whose last beat is older than their max age."""
        with self._lock:
            return sorted(n for n, age in self._max_age.items() if now - self._last[n] > age)

    def healthy(self, now: float) -> bool:
        return not self.stale(now)

    def ages(self, now: float) -> dict[str, float]:
        with self._lock:
            return {n: round(now - t, 3) for n, t in self._last.items()}

    # ------------------------------------------------------------- systemd

    def _notify(self, state: str) -> None:
        if self.notifier is None:
            self.notifier = systemd_notifier()
        try:
            self.notifier.notify(state)
        except Exception:
            log.warning("sd_notify %r failed", state, exc_info=True)

    def ready(self, status: str = "running") -> None:
        """READY=1, once: call after warm-up, when the lane can do its job."""
        if not self._ready_sent:
            self._ready_sent = True
            self._notify(f"READY=1\nSTATUS={status}")
            self._last_status = status

    def status(self, text: str) -> None:
        if text != self._last_status:
            self._last_status = text
            self._notify(f"STATUS={text}")

    def tick(self) -> bool:
        """One decision: ping if every loop is fresh; returns whether it pinged."""
        now = self.clock()
        stale = self.stale(now)
        self.ticks += 1
        if stale:
            ages = self.ages(now)
            self.status("stalled: " + ", ".join(f"{n} {ages[n]:.1f}s" for n in stale))
            return False
        if self._ready_sent:
            self.status("running")
        self._notify("WATCHDOG=1")
        self.pings += 1
        return True

    def start(self) -> None:
        """Start pinging; sends READY=1 first if ``ready()`` was not called (warm-up is done)."""
        self.ready()
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="watchdog", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()

    def stop(self) -> None:
        """STOPPING=1 and no more pings."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(self.interval_s + 1)
            self._thread = None
        self._notify("STOPPING=1")


# ---------------------------------------------------------------- stats


def parse_proc_stat(text: str) -> tuple[int, int]:
    """(busy, total) jiffies from the ``cpu`` line of /proc/stat.

    >>> parse_proc_stat("cpu  100 0 50 800 50 0 0 0 0 0\\ncpu0 1 2 3")
    (150, 1000)
    """
    fields = [int(v) for v in text.splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    total = sum(fields[:8])
    return total - idle, total


def parse_rss_mb(status_text: str) -> float | None:
    """Resident memory from /proc/<pid>/status.

    >>> parse_rss_mb("Name:\\tpython\\nVmRSS:\\t  204800 kB\\n")
    200.0
    """
    for line in status_text.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return None


def read_temperature_c(root: Path = Path("/sys/class/thermal")) -> float | None:
    """Hottest thermal zone in °C (Pi: cpu-thermal; Jetson: several), None if absent."""
    temps = []
    for zone in root.glob("thermal_zone*/temp"):
        try:
            temps.append(int(zone.read_text().strip()) / 1000)
        except (OSError, ValueError):
            continue
    return max(temps) if temps else None


class SystemStats:
    """CPU % since the previous sample, temperature and RSS, for the ``stats`` topic.

    ``cpu_percent`` is the whole box (``/proc/stat``); under the unit's
    ``ProcSubset=pid`` that file is hidden and it is None, while
    ``lane_cpu_percent`` (this process, from ``os.times()``, as a share of all
    cores) is always there.
    """

    def __init__(
        self,
        proc: Path = Path("/proc"),
        thermal: Path = Path("/sys/class/thermal"),
        clock: Callable[[], float] = time.monotonic,
        process_times: Callable[[], float] = lambda: sum(os.times()[:2]),
    ) -> None:
        self.proc, self.thermal = proc, thermal
        self.clock, self.process_times = clock, process_times
        self._prev: tuple[int, int] | None = None
        self._prev_lane: tuple[float, float] | None = None

    def sample(self) -> dict:
        return {
            "cpu_percent": self._box_cpu(),
            "lane_cpu_percent": self._lane_cpu(),
            "temperature_c": read_temperature_c(self.thermal),
            "rss_mb": self._rss(),
        }

    def _box_cpu(self) -> float | None:
        try:
            busy, total = parse_proc_stat((self.proc / "stat").read_text())
        except (OSError, ValueError, IndexError):
            return None
        prev, self._prev = self._prev, (busy, total)
        if prev is None or total <= prev[1]:
            return None
        return round(100 * (busy - prev[0]) / (total - prev[1]), 1)

    def _lane_cpu(self) -> float | None:
        now, used = self.clock(), self.process_times()
        prev, self._prev_lane = self._prev_lane, (now, used)
        if prev is None or now <= prev[0]:
            return None
        return round(100 * (used - prev[1]) / (now - prev[0]) / (os.cpu_count() or 1), 1)

    def _rss(self) -> float | None:
        try:
            rss = parse_rss_mb((self.proc / "self" / "status").read_text())
        except OSError:
            return None
        return round(rss, 1) if rss is not None else None
