"""Frames in flight: which frames run the detector, on which thread, finished in which order.

Parallel frames (``models.parallel_frames``, one per core by default): the
detector of frame *n+1* runs on a worker thread while the lane thread
tracks frame *n* and feeds the engine. Frames are finished strictly in
submit order, so trackers, zones and the engine see exactly the sequence a
one-frame-at-a-time loop would; only the ONNX Runtime calls overlap (each on
one core: on this 2-core box two one-thread runs give more frames per second
than one two-thread run, docs/BENCHMARKS.md).

A frame the motion gate skips reuses the last detected frame's detections;
once zone hysteresis has settled on them, it is not tracked at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edge_app.perception.detector import Extent
from edge_app.perception.records import FrameDetections


def parallel_frames(configured: int, cpus: int | None = None) -> int:
    """Frames detected at once: the configured number, or one per core (at most 4).

    >>> parallel_frames(0, 2), parallel_frames(0, 16), parallel_frames(1, 8), parallel_frames(3, 2)
    (2, 4, 1, 3)
    """
    if configured:
        return int(configured)
    return max(1, min(4, cpus if cpus is not None else (os.cpu_count() or 1)))


@dataclass
class FrameWork:
    """One frame between ``Perception.submit`` and ``Perception.complete``."""

    ts: float
    #: the frame; dropped once complete
    image: np.ndarray | None
    #: the frame's number in submit order
    index: int = 0
    #: the detection started on this frame (None: the gate skipped the detector)
    detection: Future[FrameDetections] | None = None
    #: the gate skipped the detector: the frame reuses the last detected frame's detections
    gated: bool = False
    #: a gated frame: the frame whose detections it reuses
    source: FrameWork | None = None
    #: a still lane whose zones have settled: nothing to update
    settled: bool = False
    #: detected in this part of the frame only (x0, y0, x1, y1); None: the whole frame
    region: Extent | None = None
    #: which detector run this frame is (gated frames: -1)
    run: int = -1
    #: milliseconds of the stages run on the lane thread at submit ("gate")
    stages: dict[str, float] = field(default_factory=dict)
    #: what the trackers were given, once complete
    detections: FrameDetections | None = None


def _done(value: FrameDetections) -> Future[FrameDetections]:
    f: Future[FrameDetections] = Future()
    f.set_result(value)
    return f


class FrameScheduler:
    """Starts each frame's detection (on a worker thread when ``parallel`` > 1) or reuses the last one.

    The caller finishes frames in the order it got them from :meth:`frame`: a
    reused frame's detections are those of the frame detected before it.
    """

    def __init__(self, parallel: int, settle_frames: int):
        self.parallel = parallel
        #: gated frames in a row after which tracker and zones have nothing left to update
        self.settle_frames = settle_frames
        self._pool = (
            ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="detector")
            if parallel > 1
            else None
        )
        self._submitted = 0
        self._still_frames = 0
        self._last_detected: FrameWork | None = None

    def frame(self, image: np.ndarray, ts: float) -> FrameWork:
        work = FrameWork(ts, image, index=self._submitted)
        self._submitted += 1
        return work

    def restart(self) -> None:
        """A new frame size: the next frame must be detected."""
        self._last_detected = None

    def must_detect(self, moved: bool) -> bool:
        return moved or self._last_detected is None

    def detect(self, work: FrameWork, detect: Callable[..., FrameDetections], *args: Any) -> None:
        """Start ``detect(*args)`` for ``work``: on a worker, or here and now (frames one at a time)."""
        work.detection = (
            self._pool.submit(detect, *args) if self._pool is not None else _done(detect(*args))
        )
        self._last_detected = work
        self._still_frames = 0

    def reuse(self, work: FrameWork) -> None:
        """Nothing moved: ``work`` gets the last detected frame's detections."""
        work.gated, work.source = True, self._last_detected
        self._still_frames += 1
        # Zone hysteresis has settled on these same boxes: another update
        # would change nothing, so a still lane costs only the gate.
        work.settled = self._still_frames > self.settle_frames

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
