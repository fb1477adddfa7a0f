"""Review light on a USB serial tower light (Adafruit "USB Tower Light with Alarm", #5125).

The tower takes single-byte commands at 9600 baud: high nibble the action
(0x1_ on, 0x2_ off, 0x4_ blink), low nibble the lamp (0x_1 red, 0x_2 yellow,
0x_4 green, 0x_8 buzzer). Source: Adafruit's guide "GitHub Actions Status
Tower Light", code walkthrough (learn.adafruit.com/github-actions-status-
tower-light/code-walkthrough): RED_ON=0x11 RED_OFF=0x21 RED_BLINK=0x41,
YELLOW_ON=0x12 …, GREEN_ON=0x14 …, BUZZER_ON=0x18 BUZZER_OFF=0x28
BUZZER_BLINK=0x48. (A table with on/blink/off as the *low* nibble circulates;
it is not what Adafruit's example sends.)

Every change sends all four lamps, so the tower's state never depends on
what it showed before. A write that fails closes the port; the next
``show`` (the app re-sends the state periodically) reopens it, with backoff,
and sends the whole state again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import serial

from edge_app.config import UsbTowerConfig
from edge_app.devices.lights.base import ReviewLight
from edge_app.devices.lights.policy import TOWER
from edge_app.events import LightState

log = logging.getLogger(__name__)

KEY = "usb_tower"

LAMP_BITS = {"red": 0x01, "yellow": 0x02, "green": 0x04, "buzzer": 0x08}
ACTION_BITS = {"on": 0x10, "off": 0x20, "blink": 0x40}


def tower_command(lamp: str, action: str) -> int:
    """The command byte for one lamp.

    >>> hex(tower_command("red", "on")), hex(tower_command("buzzer", "off"))
    ('0x11', '0x28')
    >>> hex(tower_command("yellow", "blink"))
    '0x42'
    """
    return ACTION_BITS[action] | LAMP_BITS[lamp]


def tower_bytes(state: LightState, buzzer: bool = True) -> bytes:
    """All four lamps for one state, red, yellow, green, buzzer.

    >>> tower_bytes(LightState.AVAILABLE).hex(" ")
    '21 22 14 28'
    """
    pattern = TOWER[state]
    lamps = [tower_command(lamp, getattr(pattern, lamp)) for lamp in ("red", "yellow", "green")]
    lamps.append(tower_command("buzzer", pattern.buzzer if buzzer else "off"))
    return bytes(lamps)


class UsbTowerLight(ReviewLight[UsbTowerConfig]):
    """Args: ``clock`` (monotonic seconds) and ``on_status(ok: bool, detail)`` are optional."""

    KEY = KEY
    Config = UsbTowerConfig

    def __init__(
        self,
        config: UsbTowerConfig,
        clock: Callable[[], float] = time.monotonic,
        on_status: Callable[[bool, str], None] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(config)
        self._clock = clock
        self._on_status = on_status
        self._lock = threading.Lock()
        self._port: serial.SerialBase | None = None
        self._sent: LightState | None = None  # what the device is known to show
        self._sent_at = 0.0
        self._retry_at = 0.0
        self._delay_ms = config.reconnect_initial_ms
        self._buzzer_timer: threading.Timer | None = None
        self.connected = False
        self.detail = "not opened"

    def show(self, state: LightState) -> None:
        with self._lock:
            self.state = state
            now = self._clock()
            if self._port is None and not self._open(now):
                return
            fresh = state == self._sent and now - self._sent_at < self.config.refresh_ms / 1000
            if fresh:
                return
            changed = state != self._sent
            buzz = changed and self.config.buzzer_ms > 0
            if self._write(tower_bytes(state, buzzer=buzz), now):
                self._sent, self._sent_at = state, now
                if buzz and TOWER[state].buzzer != "off":
                    self._arm_buzzer_off()

    def _open(self, now: float) -> bool:
        if now < self._retry_at:
            return False
        try:
            self._port = serial.serial_for_url(
                self.config.port,
                baudrate=self.config.baudrate,
                timeout=0.5,
                write_timeout=0.5,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            self._retry_at = now + self._delay_ms / 1000
            self._delay_ms = min(self._delay_ms * 2, self.config.reconnect_max_ms)
            self._set_status(False, f"cannot open {self.config.port}: {exc}")
            return False
        self._delay_ms = self.config.reconnect_initial_ms
        self._sent = None  # a (re)opened tower shows whatever it had: send everything
        self._set_status(True, f"open {self.config.port}")
        return True

    def _write(self, data: bytes, now: float) -> bool:
        try:
            assert self._port is not None
            self._port.write(data)  # blocking up to write_timeout: bytes are in the kernel
            return True
        except (serial.SerialException, OSError, AssertionError) as exc:
            self._drop_port()
            self._retry_at = now  # try again at the next show(), then back off
            self._set_status(False, f"write failed: {exc}")
            return False

    def _arm_buzzer_off(self) -> None:
        if self._buzzer_timer is not None:
            self._buzzer_timer.cancel()
        self._buzzer_timer = threading.Timer(self.config.buzzer_ms / 1000, self._buzzer_off)
        self._buzzer_timer.daemon = True
        self._buzzer_timer.start()

    def _buzzer_off(self) -> None:
        with self._lock:
            if self._port is not None:
                self._write(bytes([tower_command("buzzer", "off")]), self._clock())

    def _drop_port(self) -> None:
        port, self._port = self._port, None
        self._sent = None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError):
                pass

    def _set_status(self, ok: bool, detail: str) -> None:
        changed = ok != self.connected or self.detail == "not opened"
        self.connected, self.detail = ok, detail
        if changed:
            log.info("tower light %s: %s", "ok" if ok else "down", detail)
            if self._on_status is not None:
                try:
                    self._on_status(ok, detail)
                except Exception:
                    log.exception("tower light status callback failed")

    def close(self) -> None:
        if self._buzzer_timer is not None:
            self._buzzer_timer.cancel()
        super().close()
        with self._lock:
            self._drop_port()
