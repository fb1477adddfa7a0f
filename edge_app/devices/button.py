"""The staff key at the lane: a press clears the review, a long press says the customer left.

``PressClassifier`` is the pure part: edges with timestamps in, "short" /
"long" / nothing out. It drops glitches shorter than ``min_press_ms`` (contact
bounce, a cable picking up noise) and presses within ``cooldown_ms`` of the
last one (one clear per visit, not three). Duration is judged at release.

``StaffButton`` wires it to a gpiozero ``Button`` (``pin_factory`` injectable,
gpiozero imported lazily) and hands ``on_clear`` a ``StaffAction`` from the
shared vocabulary. ``on_clear`` runs on gpiozero's event thread: give it
something thread-safe, such as the engine queue's ``put``.

>>> c = PressClassifier(min_press_ms=30, long_press_ms=2000, cooldown_ms=500)
>>> c.edge(True, 0.000), c.edge(False, 0.004)   # a bounce
(None, None)
>>> c.edge(True, 0.010), c.edge(False, 0.300)
(None, 'short')
>>> c.edge(True, 1.0), c.edge(False, 3.5)
(None, 'long')
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from edge_app.events import Resolution, StaffAction, StaffResolution

Press = Literal["short", "long"]


class PressClassifier:
    """Turns button edges into short and long presses; pure, clock passed in."""

    def __init__(
        self, min_press_ms: int = 30, long_press_ms: int = 2000, cooldown_ms: int = 500
    ) -> None:
        self.min_press_s = min_press_ms / 1000
        self.long_press_s = long_press_ms / 1000
        self.cooldown_s = cooldown_ms / 1000
        self._down_at: float | None = None
        self._last_press: float | None = None

    def edge(self, pressed: bool, now: float) -> Press | None:
        if pressed:
            if self._down_at is None:
                self._down_at = now
            return None
        if self._down_at is None:
            return None
        held, self._down_at = now - self._down_at, None
        if held < self.min_press_s:
            return None
        if self._last_press is not None and now - self._last_press < self.cooldown_s:
            return None
        self._last_press = now
        return "long" if held >= self.long_press_s else "short"


class StaffButton:
    """A staff key on GPIO; wired between the pin and ground (internal pull-up).

    Args:
        pin: BCM number or gpiozero pin name.
        on_clear: called with a ``StaffAction`` per accepted press.
        clock: the lane's monotonic clock, stamps the action.
        short_press / long_press: the resolution each press means.
    """

    def __init__(
        self,
        pin: int | str,
        on_clear: Callable[[StaffAction], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        pull_up: bool = True,
        short_press: StaffResolution = "item_added",
        long_press: StaffResolution = "customer_left",
        min_press_ms: int = 30,
        long_press_ms: int = 2000,
        cooldown_ms: int = 500,
        pin_factory=None,
    ) -> None:
        from gpiozero import Button  # lazy: the package imports without gpiozero

        self.on_clear = on_clear
        self.clock = clock
        self.resolutions = {"short": short_press, "long": long_press}
        self.classifier = PressClassifier(min_press_ms, long_press_ms, cooldown_ms)
        # Debouncing is ours (PressClassifier), so it behaves the same on every pin factory.
        self._button = Button(pin, pull_up=pull_up, bounce_time=None, pin_factory=pin_factory)
        self._button.when_pressed = lambda: self._edge(True)
        self._button.when_released = lambda: self._edge(False)

    def _edge(self, pressed: bool) -> None:
        now = self.clock()
        press = self.classifier.edge(pressed, now)
        if press is not None:
            self.on_clear(
                StaffAction(ts=now, resolution=Resolution(self.resolutions[press]), source="button")
            )

    def close(self) -> None:
        self._button.close()
