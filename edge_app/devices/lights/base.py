"""The one interface every review light driver implements."""

from __future__ import annotations

import abc
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from edge_app.events import LightState


class LightConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReviewLight(abc.ABC):
    """Shows a ``LightState``. Drivers must be safe to call from any thread.

    ``show`` is idempotent: the app re-sends the state periodically and after a
    reconnect, so a driver that lost its device simply repeats the last state.
    """

    KEY: ClassVar[str]
    Config: ClassVar[type[LightConfigBase]]

    def __init__(self, config: LightConfigBase, **kwargs) -> None:
        self.config = config
        self.state = LightState.OFF

    @abc.abstractmethod
    def show(self, state: LightState) -> None: ...

    def close(self) -> None:
        """Leave the light dark: a dead app must never say 'all fine'."""
        self.show(LightState.OFF)
