"""The records the parts of perception hand each other, and the one the lane and the bench read."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edge_app.perception.detections import Detections
from edge_app.perception.detector import Extent, InputRect


@dataclass(frozen=True)
class FrameDetections:
    """What the detector found on one frame, sorted into items, hands and people."""

    #: products, one box per item (:class:`~edge_app.perception.filters.OneBoxPerItem`)
    items: Detections
    #: hand boxes for the hand tracker; None when no model of the lane sees hands
    hands: Detections | None
    #: person boxes (N, 4), only blurred in evidence clips; None when the model has no person class
    people: np.ndarray | None
    #: milliseconds of the detector's stages on this frame ("preprocess", "detect")
    stage_ms: dict[str, float] = field(default_factory=dict)
    #: the image extent the detector ran on (the rest was carried over); None: the whole frame
    region: Extent | None = None


@dataclass
class StageTimes:
    """Milliseconds per stage of the last frame, and running lists for p50/p95."""

    last: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)
    keep: int = 2000

    def add(self, stage: str, ms: float) -> None:
        self.last[stage] = ms
        h = self.history.setdefault(stage, [])
        h.append(ms)
        if len(h) > self.keep:
            del h[: len(h) - self.keep]


@dataclass
class PerceptionStats:
    """What a lane's perception did: counts since it started, and the last frame's stage times."""

    frames: int = 0
    #: frames the detector ran on, and frames it was skipped on (nothing moved)
    detector_runs: int = 0
    frames_gated: int = 0
    #: detector runs on a region, and the input area detected (1.0 per whole frame)
    region_runs: int = 0
    detected_area: float = 0.0
    #: regions detected a second time, grown around an item they cut
    regrown: int = 0
    times: StageTimes = field(default_factory=StageTimes)
    #: stages that ran on the last frame (``times.last`` keeps older values of the others)
    last_stages: set[str] = field(default_factory=set)
    #: set to a list to record every detector call as (frame number, input rect or None)
    call_log: list[tuple[int, InputRect | None]] | None = None

    def add_stage(self, stage: str, ms: float) -> None:
        self.times.add(stage, ms)
        self.last_stages.add(stage)

    def log_call(self, frame: int, rect: InputRect | None) -> None:
        if self.call_log is not None:
            self.call_log.append((frame, rect))
