"""Console 'light': prints state changes; the demo's and the default driver."""

from __future__ import annotations

import sys
import threading
from typing import TextIO

from edge_app.config import ConsoleLightConfig
from edge_app.devices.lights.base import ReviewLight
from edge_app.events import LightState

KEY = "console"

SYMBOLS = {
    LightState.OFF: "⚫ off",
    LightState.AVAILABLE: "🟢 available",
    LightState.ASSIST: "🟡 assist (please scan that item)",
    LightState.REVIEW: "🟡✳ review (staff)",
    LightState.INTERVENTION: "🔴✳ intervention",
    LightState.FAULT: "🔴 fault",
}


class ConsoleLight(ReviewLight[ConsoleLightConfig]):
    KEY = KEY
    Config = ConsoleLightConfig

    def __init__(self, config: ConsoleLightConfig, stream: TextIO | None = None, **kwargs) -> None:
        super().__init__(config)
        self._stream = stream or sys.stdout
        self._lock = threading.Lock()
        self.history: list[LightState] = []

    def show(self, state: LightState) -> None:
        with self._lock:
            if state == self.state and self.history:
                return
            self.state = state
            self.history.append(state)
            print(f"  [light] {SYMBOLS[state]}", file=self._stream, flush=True)
