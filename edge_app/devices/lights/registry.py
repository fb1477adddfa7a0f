"""Finds every light driver in this package (Frigate-style: a driver is one file)."""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache
from typing import Union

from edge_app.devices import lights
from edge_app.devices.lights.base import ReviewLight

_SKIP = {"base", "registry", "policy"}


@lru_cache(maxsize=1)
def drivers() -> dict[str, type[ReviewLight]]:
    for mod in pkgutil.iter_modules(lights.__path__):
        if mod.name not in _SKIP:
            importlib.import_module(f"{lights.__name__}.{mod.name}")
    found: dict[str, type[ReviewLight]] = {}
    stack = list(ReviewLight.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if getattr(cls, "KEY", None):
            found[cls.KEY] = cls
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != "console", kv[0])))


def light_config_union():
    configs = tuple(d.Config for d in drivers().values())
    return Union[configs] if len(configs) > 1 else configs[0]


def make_light(config, **kwargs) -> ReviewLight:
    return drivers()[config.type](config, **kwargs)
