"""Per-frame perception: products and hands in, zone events out.

Glue only. :class:`Perception` composes the parts, each in its own module:
the models (:mod:`~edge_app.perception.build`), the motion gate and region
planner (:mod:`~edge_app.perception.motion`), the frame scheduler
(:mod:`~edge_app.perception.scheduler`), the detector and its one-box-per-item
filters (:mod:`~edge_app.perception.filters`), the trackers and carry
association (:mod:`~edge_app.perception.tracker`) and the zones
(:mod:`~edge_app.perception.zones`). A frame goes detector → filters →
trackers → carry association → zones, and the ``ZoneEvent`` s go to the lane;
per-stage timings and counts land in :attr:`Perception.stats` for the lane's
stats and the benchmark.

``submit`` starts a frame (the gate decides, the detector starts, on a
worker thread when frames run in parallel) and ``complete`` finishes frames
strictly in order; ``process`` is ``complete(submit(...))``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from edge_app.config import LaneConfig
from edge_app.events import ZoneEvent
from edge_app.perception.build import build_models
from edge_app.perception.detector import Detector, InputRect, StagedDetector
from edge_app.perception.filters import OneBoxPerItem
from edge_app.perception.hands import HandBackend, hands_to_detections
from edge_app.perception.motion import GATE_MAX_SKIP_S, MotionGate, RegionPlanner
from edge_app.perception.records import FrameDetections, PerceptionStats, StageTimes
from edge_app.perception.scheduler import FrameScheduler, FrameWork, parallel_frames
from edge_app.perception.tracker import CarryAssociator, Track, Tracker
from edge_app.perception.zones import ZoneMapper

log = logging.getLogger(__name__)

#: ONNX Runtime session options of the lane's models (measured in docs/BENCHMARKS.md):
#: worker threads block instead of spinning between runs, so a 2-core kiosk keeps
#: its second core for decode, tracking and the engine, and a still lane idles.
ORT_SESSION_CONFIG = {"session.intra_op.allow_spinning": "0"}

#: what the lane, the bench and their tests import from here
__all__ = ["Perception", "FrameWork", "ORT_SESSION_CONFIG", "GATE_MAX_SKIP_S"]


class Perception:
    """Detector + hands + trackers + zones for one lane camera (motion-gated, frames in parallel)."""

    def __init__(
        self,
        cfg: LaneConfig,
        resolve: Callable[[str], Path] | None = None,
        detector: Detector | None = None,
        hands: HandBackend | None = None,
    ):
        m = cfg.models
        self.models_cfg, self.zones_cfg = m, cfg.zones
        self.parallel = parallel_frames(m.parallel_frames)
        models = build_models(
            m,
            resolve or cfg.resolve,
            parallel=self.parallel,
            session_config=ORT_SESSION_CONFIG,
            detector=detector,
            hands=hands,
        )
        self.detector, self.hands, self.classes = models.detector, models.hands, models.classes
        #: the detector's path in three timed steps, when it has one
        self._staged = self.detector if isinstance(self.detector, StagedDetector) else None
        self.one_box = OneBoxPerItem.from_config(m.products)
        self.items = Tracker(
            kind="item",
            high_thresh=max(0.3, m.products.conf + 0.15),
            low_thresh=0.05,
            label_half_life_s=m.products.label_half_life_ms / 1000,
        )
        self.hand_tracker = Tracker(kind="hand", high_thresh=0.5, low_thresh=0.2)
        self.carry = CarryAssociator()
        #: zones and gate are made for the frame size of the first frame (and again if it changes)
        self.zones: ZoneMapper | None = None
        self.gate: MotionGate | None = None
        # Motion regions: detect where the lane moved; the rest keeps its last boxes.
        self.regions = RegionPlanner.for_lane(m, self.detector)
        settle = max(cfg.zones.enter_frames, cfg.zones.exit_frames) + 2
        self.scheduler = FrameScheduler(self.parallel, settle_frames=settle)
        self.stats = PerceptionStats()
        self.last_people = np.zeros((0, 4), np.float32)
        self.last_items: list[Track] = []
        self.last_hands: list[Track] = []

    @property
    def frames(self) -> int:
        """Frames completed (the lane's stats and snapshot read it)."""
        return self.stats.frames

    @property
    def times(self) -> StageTimes:
        """Per-stage milliseconds (the lane's stats read them)."""
        return self.stats.times

    def close(self) -> None:
        self.scheduler.close()

    # ------------------------------------------------------------ submit

    def submit(self, image: np.ndarray, ts: float) -> FrameWork:
        """Start a frame: the gate decides, the detector starts (on a worker when parallel)."""
        size = (image.shape[1], image.shape[0])
        if self.zones is None or self.zones.frame_size != size:
            self._new_frame_size(size)
        work = self.scheduler.frame(image, ts)
        moved = True
        if self.gate is not None:
            t = time.perf_counter()
            moved = self.gate.check(image, ts)
            work.stages["gate"] = (time.perf_counter() - t) * 1000
        if self.scheduler.must_detect(moved):
            self._start_detection(work, image, size)
        else:  # nothing moved: the detector would see what it saw last time
            self.scheduler.reuse(work)
            self.stats.frames_gated += 1
        return work

    def _new_frame_size(self, size: tuple[int, int]) -> None:
        self.zones = ZoneMapper(self.zones_cfg, size)
        if self.regions is not None:
            self.regions.reset()
        self.gate = (
            MotionGate.for_lane(self.zones_cfg, size, self.models_cfg)
            if self.models_cfg.motion_gating
            else None
        )
        self.scheduler.restart()

    def _start_detection(self, work: FrameWork, image: np.ndarray, size: tuple[int, int]) -> None:
        rect = None
        work.run = self.stats.detector_runs
        if self.regions is not None:
            motion = self.gate.motion_box if self.gate is not None else None
            rect, work.region = self.regions.plan(size, work.ts, motion, work.run)
            if rect is not None:
                self.stats.region_runs += 1
                self.stats.detected_area += self.regions.input_share(size, rect)
            else:
                self.stats.detected_area += 1.0
        self.stats.log_call(work.index, rect)
        self.scheduler.detect(work, self._detect, image, rect)
        if self.gate is not None:
            self.gate.accept(work.ts)
        self.stats.detector_runs += 1

    def _detect(self, image: np.ndarray, rect: InputRect | None = None) -> FrameDetections:
        """Products, hands when the product model itself detects them, people, and stage ms.

        Runs on a worker thread when frames run in parallel: touches no lane state.
        """
        stages = {}
        t = time.perf_counter()
        if self._staged is not None:
            x, lb = self._staged.preprocess(image, rect)
            now = time.perf_counter()
            stages["preprocess"], t = (now - t) * 1000, now
            dets = self._staged.decode(self._staged.infer(x), lb)
        else:
            dets = self.detector.detect(image)
        items, hands, people = self.classes.split(dets)
        items = self.one_box.apply(items, hands)
        stages["detect"] = (time.perf_counter() - t) * 1000
        return FrameDetections(items, hands, people, stage_ms=stages)

    # ---------------------------------------------------------- complete

    def complete(self, work: FrameWork) -> list[ZoneEvent]:
        """Finish a submitted frame (call in submit order): trackers, carry, zones."""
        self.stats.last_stages = set()
        for name, ms in work.stages.items():
            self.stats.add_stage(name, ms)
        if work.detection is not None:
            work.detections = self._finish_detection(work)
        elif work.source is not None:
            work.detections = work.source.detections
            work.source = None  # do not chain every gated frame back to the first
        work.image = None
        if work.settled:
            self.stats.frames += 1
            return []
        assert work.detections is not None, "complete frames in the order they were submitted"
        return self._track(work.detections, work.ts)

    def _finish_detection(self, work: FrameWork) -> FrameDetections:
        assert work.detection is not None and work.image is not None
        found = work.detection.result()
        work.detection = None  # the worker's result is ours now; free the future
        if self.regions is not None:
            found = self._carry_over(work, found)
        for name in ("preprocess", "detect"):
            if name in found.stage_ms:
                self.stats.add_stage(name, found.stage_ms[name])
        if found.people is not None:
            self.last_people = found.people
        if self.hands is not None:
            # A separate hand model keeps its own frame-to-frame state: run it
            # here, in frame order (it overlaps the next frame's detector).
            t = time.perf_counter()
            found = replace(found, hands=hands_to_detections(self.hands.detect(work.image)))
            self._stage("hands", t)
        return found

    def _carry_over(self, work: FrameWork, found: FrameDetections) -> FrameDetections:
        """A region's detections, with everything outside it where the frame before had it."""
        assert self.regions is not None and work.image is not None
        if work.region is not None and self.regions.last_seen is not None:
            size = (work.image.shape[1], work.image.shape[0])
            again, rect, grown = self.regions.regrow(size, work.region)
            if again:
                # the motion cut an item seen last frame: detect again, around it too
                more = self._detect(work.image, rect)
                self.stats.log_call(work.index, rect)
                stage_ms = {
                    **found.stage_ms,
                    "detect": found.stage_ms.get("detect", 0.0) + more.stage_ms["detect"],
                }
                found = replace(more, stage_ms=stage_ms)
                self.stats.regrown += 1
                work.region = grown
        if work.region is not None:
            found = replace(self.regions.fill_in(found, work.region), region=work.region)
        self.regions.remember(found, work.run)
        return found

    def _track(self, found: FrameDetections, ts: float) -> list[ZoneEvent]:
        assert self.zones is not None
        t = time.perf_counter()
        hand_tracks: list[Track] = []
        if found.hands is not None:
            hand_tracks = self.hand_tracker.update(found.hands, ts)
        item_tracks = self.items.update(found.items, ts)
        self.carry.update(item_tracks, hand_tracks)
        lost = self.items.lost_since_last_update() + self.hand_tracker.lost_since_last_update()
        events = self.zones.update(item_tracks + hand_tracks, ts, lost)
        self._stage("track", t)
        self.stats.frames += 1
        self.last_items, self.last_hands = item_tracks, hand_tracks
        return events

    def _stage(self, name: str, since: float) -> None:
        self.stats.add_stage(name, (time.perf_counter() - since) * 1000)

    def process(self, image: np.ndarray, ts: float) -> list[ZoneEvent]:
        """One frame, start to finish."""
        return self.complete(self.submit(image, ts))
