"""The one interface every review light driver implements."""

from __future__ import annotations

import abc
from typing import Any, ClassVar, Generic, TypeVar

from edge_app.config import LightConfigBase
from edge_app.events import LightState

C = TypeVar("C", bound=LightConfigBase)


class ReviewLight(abc.ABC, Generic[C]):
    """Shows a ``LightState``. Drivers must be safe to call from any thread.

    ``show`` is idempotent: the app re-sends the state periodically and after a
    reconnect, so a driver that lost its device simply repeats the last state.
    Generic in its config: ``GpioLight(ReviewLight[GpioLightConfig])`` reads
    its own fields, typed (Frigate's detectors get their own config the same way).
    """

    KEY: ClassVar[str]
    #: the driver's config class (in ``edge_app.config``, which owns every schema)
    Config: ClassVar[type[LightConfigBase]]

    def __init__(self, config: C, **kwargs: Any) -> None:
        self.config: C = config
        self.state = LightState.OFF

    @abc.abstractmethod
    def show(self, state: LightState) -> None: ...

    def close(self) -> None:
        """Leave the light dark: a dead app must never say 'all fine'."""
        self.show(LightState.OFF)
