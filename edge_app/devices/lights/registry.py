"""Finds every light driver in this package (Frigate-style: a driver is one file).

The drivers' config classes live in ``edge_app.config`` (validating a lane file
imports no driver); ``drivers()`` checks that each driver found here has its
class in ``LightConfig`` and that no config type lacks a driver.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Any, get_args

from edge_app.config import LIGHT_TYPES, LightConfig
from edge_app.devices import lights
from edge_app.devices.lights.base import ReviewLight

_SKIP = {"base", "registry", "policy"}


@lru_cache(maxsize=1)
def drivers() -> dict[str, type[ReviewLight[Any]]]:
    for mod in pkgutil.iter_modules(lights.__path__):
        if mod.name not in _SKIP:
            importlib.import_module(f"{lights.__name__}.{mod.name}")
    found: dict[str, type[ReviewLight[Any]]] = {}
    stack = list(ReviewLight.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if getattr(cls, "KEY", None):
            found[cls.KEY] = cls
    _check_configs(found)
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != "console", kv[0])))


def _check_configs(found: dict[str, type[ReviewLight[Any]]]) -> None:
    """A driver without its config in the lane schema (or the reverse) could never be chosen."""
    members = set(get_args(LightConfig))
    for key, cls in found.items():
        if cls.Config not in members or cls.Config.model_fields["type"].default != key:
            raise TypeError(
                f"light driver {key!r}: its Config must be the LightConfig member of type {key!r}"
            )
    if missing := LIGHT_TYPES - set(found):
        raise TypeError(f"light config types without a driver: {sorted(missing)}")


def make_light(config: LightConfig, **kwargs: Any) -> ReviewLight[Any]:
    return drivers()[config.type](config, **kwargs)
