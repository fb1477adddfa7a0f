"""Per-frame perception: products and hands in, zone events out.

Glue only: the detector, hand backend, trackers and zone mapper live in
``edge_app.vision``; this decides which of them run on a frame and hands the
resulting ``ZoneEvent`` s to the lane. It owns per-stage timings for stats
and the benchmark.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edge_app.config import LaneConfig
from edge_app.events import ZoneEvent
from edge_app.vision.hands import HandBackend, hands_to_detections, make_hand_backend
from edge_app.vision.tracker import CarryAssociator, Track, Tracker
from edge_app.vision.yolo import Detections, YoloDetector
from edge_app.vision.zones import ZoneMapper

log = logging.getLogger(__name__)


@dataclass
class StageTimes:
    """Milliseconds per stage of the last frame, and running lists for p50/p95."""

    last: dict = field(default_factory=dict)
    history: dict = field(default_factory=dict)
    keep: int = 2000

    def add(self, stage: str, ms: float) -> None:
        self.last[stage] = ms
        h = self.history.setdefault(stage, [])
        h.append(ms)
        if len(h) > self.keep:
            del h[: len(h) - self.keep]

    def percentiles(self) -> dict:
        return {
            k: {"p50": round(float(np.percentile(v, 50)), 2), "p95": round(float(np.percentile(v, 95)), 2)}
            for k, v in self.history.items()
            if v
        }


class Perception:
    """Detector + hands + trackers + zones for one lane camera."""

    def __init__(
        self,
        cfg: LaneConfig,
        resolve: Callable[[str], Path] | None = None,
        detector: Optional[YoloDetector] = None,
        hands: Optional[HandBackend] = None,
    ):
        resolve = resolve or cfg.resolve
        m = cfg.models
        self.detector = detector or YoloDetector(
            resolve(m.products.path),
            conf=m.products.conf,
            iou=m.products.iou,
            provider=m.execution_provider,
            threads=m.threads,
            expected_sha256=m.products.sha256,
            # a model must be in models/manifest.yaml or carry its sha256 in the lane file
            require_manifest=m.products.sha256 is None,
        )
        self.hands = hands if hands is not None else make_hand_backend(
            m.hands, resolve, provider=m.execution_provider, threads=m.threads
        )
        wanted = set(m.products.classes)
        names = self.detector.names
        self._product_ids = np.array(
            [i for i, n in enumerate(names) if (n in wanted if wanted else n != "person")], np.int32
        )
        self.items = Tracker(kind="item", high_thresh=max(0.3, m.products.conf + 0.15), low_thresh=0.05)
        self.hand_tracker = Tracker(kind="hand", high_thresh=0.5, low_thresh=0.2)
        self.carry = CarryAssociator()
        self.zones_cfg = cfg.zones
        self.zones: Optional[ZoneMapper] = None
        self.times = StageTimes()
        self.frames = 0
        self.last_items: list[Track] = []
        self.last_hands: list[Track] = []

    def process(self, image: np.ndarray, ts: float) -> list[ZoneEvent]:
        if self.zones is None or self.zones.frame_size != (image.shape[1], image.shape[0]):
            self.zones = ZoneMapper(self.zones_cfg, (image.shape[1], image.shape[0]))
        t0 = time.perf_counter()
        dets = self.detector.detect(image)
        dets = dets.filter(np.isin(dets.class_id, self._product_ids))
        t1 = time.perf_counter()
        self.times.add("detect", (t1 - t0) * 1000)
        hand_tracks: list[Track] = []
        if self.hands is not None:
            hand_dets: Detections = hands_to_detections(self.hands.detect(image))
            t2 = time.perf_counter()
            self.times.add("hands", (t2 - t1) * 1000)
            hand_tracks = self.hand_tracker.update(hand_dets, ts)
            t1 = time.perf_counter()
        t3 = time.perf_counter()
        item_tracks = self.items.update(dets, ts)
        self.carry.update(item_tracks, hand_tracks)
        lost = self.items.lost_since_last_update() + self.hand_tracker.lost_since_last_update()
        events = self.zones.update(item_tracks + hand_tracks, ts, lost)
        self.times.add("track", (time.perf_counter() - t3) * 1000)
        self.frames += 1
        self.last_items, self.last_hands = item_tracks, hand_tracks
        return events

