"""No light at all (headless test rigs); state is still tracked and published."""

from __future__ import annotations

from typing import Literal

from edge_app.devices.lights.base import LightConfigBase, ReviewLight
from edge_app.events import LightState


class NoLightConfig(LightConfigBase):
    type: Literal["none"] = "none"


class NoLight(ReviewLight):
    KEY = "none"
    Config = NoLightConfig

    def show(self, state: LightState) -> None:
        self.state = state
