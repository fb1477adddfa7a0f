"""Per-frame stage timings the lane records itself (``Lane(on_frame_timed=...)``).

A benchmark or a logger hooks a run through this record instead of wrapping
methods of the live objects it measures (Ultralytics keeps a ``speed`` per
result the same way). Only a lane given the hook reads ``time.perf_counter``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: the stages a lane measures; ``engine`` is derived (the rest of the frame)
STAGES = ("frame", "perception", "publish", "evidence")


@dataclass(frozen=True)
class FrameTimings:
    """Milliseconds the lane spent since the previous finished frame, by stage.

    ``frame``: inside ``begin_frame`` and ``finish_frame`` (with parallel frames
    the next frame's ``begin_frame`` falls into this record); ``perception``:
    the detector submit and the tracking; ``publish``: every MQTT publish of the
    lane, inputs drained between frames included; ``evidence``: keeping the
    frame for clips; ``engine``: the rest of the frame (engine steps, light,
    lane state), never below zero.
    """

    ts: float
    frame_ms: float
    perception_ms: float
    publish_ms: float
    evidence_ms: float
    engine_ms: float


class StageClock:
    """Adds up wall time per stage until ``take`` hands it out as one ``FrameTimings``."""

    def __init__(self) -> None:
        self._ms: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        try:
            yield
        finally:
            self._ms[name] = self._ms.get(name, 0.0) + (time.perf_counter() - t) * 1000

    def take(self, ts: float) -> FrameTimings:
        ms, self._ms = self._ms, {}
        frame, perception, publish, evidence = (ms.get(s, 0.0) for s in STAGES)
        return FrameTimings(
            ts,
            frame,
            perception,
            publish,
            evidence,
            max(0.0, frame - perception - publish - evidence),
        )
