"""Review light on GPIO: red/yellow/green lamps and a buzzer through gpiozero.

Wiring (Pi 5 with lgpio, Jetson): ``hardware/README.md``. Pins are BCM
numbers or gpiozero pin names ("GPIO17", "BOARD11"). gpiozero is imported
only when the driver starts, so lanes without GPIO do not need it; tests hand
in ``pin_factory=MockFactory()``. Blinking uses gpiozero's own background
blink, so a stalled app thread does not freeze the flashing.
"""

from __future__ import annotations

import threading

from edge_app.config import GpioLightConfig
from edge_app.devices.lights.base import ReviewLight
from edge_app.devices.lights.policy import TOWER
from edge_app.events import LightState

KEY = "gpio"


class GpioLight(ReviewLight[GpioLightConfig]):
    """Drives the lamps from ``policy.TOWER``; only changes touch the pins."""

    KEY = KEY
    Config = GpioLightConfig

    def __init__(self, config: GpioLightConfig, pin_factory=None, **kwargs) -> None:
        super().__init__(config)
        from gpiozero import LED, Buzzer  # lazy: the package imports without gpiozero

        self._lock = threading.Lock()
        self._lamps = {}
        for name in ("red", "yellow", "green"):
            pin = getattr(config, name)
            if pin is not None:
                self._lamps[name] = LED(
                    pin,
                    active_high=config.active_high,
                    initial_value=False,
                    pin_factory=pin_factory,
                )
        self._buzzer = None
        if config.buzzer is not None:
            self._buzzer = Buzzer(
                config.buzzer,
                active_high=config.active_high,
                initial_value=False,
                pin_factory=pin_factory,
            )
        self._shown: LightState | None = None

    def show(self, state: LightState) -> None:
        with self._lock:
            if state == self._shown:
                return  # idempotent: re-sending must not restart blinking or beeps
            pattern = TOWER[state]
            c = self.config
            for name, lamp in self._lamps.items():
                self._apply(lamp, getattr(pattern, name), c.blink_on_ms, c.blink_off_ms, None)
            if self._buzzer is not None:
                self._apply(self._buzzer, pattern.buzzer, c.beep_on_ms, c.beep_off_ms, c.beeps)
            self._shown = self.state = state

    @staticmethod
    def _apply(device, lamp: str, on_ms: int, off_ms: int, n: int | None) -> None:
        if lamp == "on":
            device.on()
        elif lamp == "blink":
            device.blink(on_time=on_ms / 1000, off_time=off_ms / 1000, n=n, background=True)
        else:
            device.off()

    def close(self) -> None:
        super().close()
        with self._lock:
            for device in [*self._lamps.values(), self._buzzer]:
                if device is not None:
                    device.close()
