"""No light at all (headless test rigs); state is still tracked and published."""

from __future__ import annotations

from edge_app.config import NoLightConfig
from edge_app.devices.lights.base import ReviewLight
from edge_app.events import LightState


class NoLight(ReviewLight[NoLightConfig]):
    KEY = "none"
    Config = NoLightConfig

    def show(self, state: LightState) -> None:
        self.state = state
