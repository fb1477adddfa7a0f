"""Per-frame perception: products and hands in, zone events out.

Glue only: the detector, hand backend, trackers and zone mapper live in
``edge_app.perception``; this decides which of them run on a frame and hands the
resulting ``ZoneEvent`` s to the lane. It owns per-stage timings for stats
and the benchmark.

Motion gating (``models.motion_gating``, on by default): a still lane costs
almost nothing. :class:`MotionGate` compares a 4x-downscaled grey frame with
the last frame the detector saw, inside the zones; when nothing moved (and
``motion_hold_ms`` has passed since the last motion), the detector and the
hand backend are skipped and the trackers are given the last detections
again -- exactly what the detector would return for an unchanged image, so
tracks keep their ids, coast and age as usual. Items standing still in the
bag are the baseline anyway. ``tests/perception/test_pipeline.py`` replays the demo
with gating on and off and checks the same alerts and journeys come out.

Parallel frames (``models.parallel_frames``, one per core by default): the
detector of frame *n+1* runs on a worker thread while the lane thread
tracks frame *n* and feeds the engine. ``submit`` starts a frame and
``complete`` finishes frames strictly in order, so trackers, zones and the
engine see exactly the sequence a one-frame-at-a-time loop would; only the
ONNX Runtime calls overlap (each on one core: on this 2-core box two
one-thread runs give more frames per second than one two-thread run,
docs/BENCHMARKS.md). ``process`` is ``complete(submit(...))``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_app.config import LaneConfig, ZonesConfig
from edge_app.events import ZoneEvent
from edge_app.perception.boxes import boxes_inside, boxes_outside, cross_class_nms, nms
from edge_app.perception.detections import Detections
from edge_app.perception.detector import Detector, StagedDetector
from edge_app.perception.filters import boxes_with_hand, nested_boxes
from edge_app.perception.hands import HandBackend, hands_to_detections, make_hand_backend
from edge_app.perception.models import ModelError
from edge_app.perception.tracker import CarryAssociator, Track, Tracker
from edge_app.perception.yolo import YoloDetector
from edge_app.perception.zones import ZoneMapper

log = logging.getLogger(__name__)

#: ONNX Runtime session options of the lane's models (measured in docs/BENCHMARKS.md):
#: worker threads block instead of spinning between runs, so a 2-core kiosk keeps
#: its second core for decode, tracking and the engine, and a still lane idles.
ORT_SESSION_CONFIG = {"session.intra_op.allow_spinning": "0"}
#: the detector runs at least this often on a still scene (a safety net; slow
#: changes already add up against the last detected frame)
GATE_MAX_SKIP_S = 2.0
#: a region is planned around the boxes seen this many detector runs ago: a
#: run that old is complete whatever the number of frames in flight (at most
#: 4 + 1), so parallel lanes plan exactly what a one-at-a-time lane plans
REGION_HINT_RUNS = 5
#: the gate looks at the frame downscaled by this factor (area average: less noise)
GATE_SCALE = 4


class MotionGate:
    """Did anything move in the zones since the detector last ran?

    Pixels whose grey level (on the frame downscaled ``scale`` times, area
    average) differs by more than ``delta`` from the last *detected* frame
    count as moving, inside the convex hull of the zones minus ``ignore``.
    ``check`` says whether the detector must run on this frame: enough moving
    pixels, motion less than ``hold_s`` ago, ``max_skip_s`` without a
    detection, or no reference yet. Comparing with the last detected frame
    (not the previous one) lets slow changes add up until they count.
    Pure but for OpenCV arithmetic; time is an argument.

    >>> z = ZonesConfig(pick=[(0, 0), (0.5, 0), (0.5, 1)], scan=[(0.5, 0), (1, 0), (1, 1)], bag=[(0, 1), (1, 1), (1, 0.9)])
    >>> gate = MotionGate(z, (64, 48), hold_s=0.0)
    >>> still = np.full((48, 64, 3), 100, np.uint8)
    >>> gate.check(still, 0.0), gate.accept(0.0), gate.check(still, 0.1)
    (True, None, False)
    >>> moved = still.copy(); moved[10:30, 20:40] = 200
    >>> gate.check(moved, 0.2)
    True
    """

    def __init__(
        self,
        zones: ZonesConfig,
        frame_size: tuple[int, int],
        *,
        delta: int = 12,
        min_area_pct: float = 0.1,
        hold_s: float = 0.5,
        max_skip_s: float = GATE_MAX_SKIP_S,
        scale: int = GATE_SCALE,
    ):
        w, h = frame_size
        self.size = (max(1, w // scale), max(1, h // scale))
        sw, sh = self.size
        pts = [
            np.asarray(getattr(zones, z), np.float64)
            for z in ("pick", "scan", "bag", "go_back")
            if getattr(zones, z)
        ]
        hull = cv2.convexHull((np.concatenate(pts) * (sw, sh)).astype(np.int32))
        mask = np.zeros((sh, sw), np.uint8)
        cv2.fillPoly(mask, [hull], 255)
        if zones.ignore:
            cv2.fillPoly(mask, [(np.asarray(zones.ignore) * (sw, sh)).astype(np.int32)], 0)
        self.mask = mask
        self.min_pixels = max(1, int(np.ceil(min_area_pct / 100 * np.count_nonzero(mask))))
        self.delta, self.hold_s, self.max_skip_s = int(delta), float(hold_s), float(max_skip_s)
        self._ref: np.ndarray | None = None
        self._small: np.ndarray | None = None
        self._moving = np.empty((sh, sw), np.uint8)
        self._last_motion = float("-inf")
        self._last_detect = float("-inf")
        self.moving_pixels = 0
        self._to_frame = (w / sw, h / sh)
        #: where the last checked frame moved (x0, y0, x1, y1 in frame pixels), None if it did not
        self.motion_box: tuple[float, float, float, float] | None = None

    def check(self, image: np.ndarray, ts: float) -> bool:
        # grey first, then shrink: one channel to average, a third less time than the other way round
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if image.ndim == 3 else image
        self._small = cv2.resize(grey, self.size, interpolation=cv2.INTER_AREA)
        self.motion_box = None
        if self._ref is None:
            return True
        cv2.absdiff(self._small, self._ref, dst=self._moving)
        cv2.threshold(self._moving, self.delta, 255, cv2.THRESH_BINARY, dst=self._moving)
        cv2.bitwise_and(self._moving, self.mask, dst=self._moving)
        self.moving_pixels = cv2.countNonZero(self._moving)
        if self.moving_pixels >= self.min_pixels:
            self._last_motion = ts
            x, y, bw, bh = cv2.boundingRect(self._moving)
            fx, fy = self._to_frame
            self.motion_box = (x * fx, y * fy, (x + bw) * fx, (y + bh) * fy)
            return True
        return ts - self._last_motion <= self.hold_s or ts - self._last_detect >= self.max_skip_s

    def accept(self, ts: float) -> None:
        """The detector ran on the frame just checked: it becomes the reference."""
        self._ref, self._last_detect = self._small, ts


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
    image: np.ndarray
    #: the detector's (products, detector hands, people) for this frame, or None when gated
    detection: Future | None = None
    #: a gated frame: the frame whose detections it reuses
    source: FrameWork | None = None
    #: a still lane whose zones have settled: nothing to update
    settled: bool = False
    #: detected in this part of the frame only (x0, y0, x1, y1); None: the whole frame
    region: tuple[float, float, float, float] | None = None
    #: which detector run this frame is (gated frames: the run they reuse)
    run: int = -1
    #: the frame's number in submit order
    index: int = 0
    stages: dict = field(default_factory=dict)
    hand_dets: Detections | None = None
    dets: Detections | None = None


def _done(value) -> Future:
    f: Future = Future()
    f.set_result(value)
    return f


class Perception:
    """Detector + hands + trackers + zones for one lane camera (motion-gated, frames in parallel)."""

    def __init__(
        self,
        cfg: LaneConfig,
        resolve: Callable[[str], Path] | None = None,
        detector: Detector | None = None,
        hands: HandBackend | None = None,
    ):
        resolve = resolve or cfg.resolve
        m = cfg.models
        self.models_cfg = m
        self.parallel = parallel_frames(m.parallel_frames)
        # Parallel frames: each run gets one core unless the lane says otherwise.
        threads = m.threads or (1 if self.parallel > 1 else 0)
        self.detector = detector or YoloDetector(
            resolve(m.products.path),
            conf=m.products.conf,
            iou=m.products.iou,
            provider=m.execution_provider,
            threads=threads,
            expected_sha256=m.products.sha256,
            # a model must be in models/manifest.yaml or carry its sha256 in the lane file
            require_manifest=m.products.sha256 is None,
            session_config=ORT_SESSION_CONFIG,
        )
        names = self.detector.names
        #: class ids of the product model that are hands ('detector' backend): free hand boxes
        self._hand_ids = np.array([], np.int32)
        if hands is None and m.hands.backend == "detector":
            if m.hands.detector_class not in names:
                raise ModelError(
                    f"models.hands: the product model has no {m.hands.detector_class!r} class "
                    f"(it has {', '.join(names[:8])}…); use another hands backend"
                )
            self._hand_ids = np.array([names.index(m.hands.detector_class)], np.int32)
            self.hands = None
        else:
            self.hands = (
                hands
                if hands is not None
                else make_hand_backend(m.hands, resolve, provider=m.execution_provider, threads=m.threads)
            )
        self._person_id = names.index("person") if "person" in names else -1
        self.last_people = np.zeros((0, 4), np.float32)
        self._one_box_per_item = m.products.one_box_per_item
        self._agnostic_iou = min(m.products.iou, 0.6)
        self._keep_stacks = m.products.keep_stacks
        self._nested = (m.products.nested_ios, m.products.nested_area_ratio)
        self._hand_box_share = m.products.hand_box_share
        wanted = set(m.products.classes)
        self._product_ids = np.array(
            [i for i, n in enumerate(names) if (n in wanted if wanted else n != "person")], np.int32
        )
        self.items = Tracker(
            kind="item",
            high_thresh=max(0.3, m.products.conf + 0.15),
            low_thresh=0.05,
            label_half_life_s=m.products.label_half_life_ms / 1000,
        )
        self.hand_tracker = Tracker(kind="hand", high_thresh=0.5, low_thresh=0.2)
        self.carry = CarryAssociator()
        self.zones_cfg = cfg.zones
        self.zones: ZoneMapper | None = None
        self.gate: MotionGate | None = None
        self.times = StageTimes()
        self.frames = 0
        #: frames the detector ran on, and frames it was skipped on (nothing moved)
        self.detector_runs = 0
        self.frames_gated = 0
        #: stages that ran on the last frame (``times.last`` keeps older values of the others)
        self.last_stages: set[str] = set()
        self.last_items: list[Track] = []
        self.last_hands: list[Track] = []
        #: gated frames in a row, and how many of them still go through tracker and zones
        self._still_frames = 0
        self._settle_frames = max(cfg.zones.enter_frames, cfg.zones.exit_frames) + 2
        #: the detector's path in three timed steps, when it has one
        self._split = isinstance(self.detector, StagedDetector)
        self._pool = (
            ThreadPoolExecutor(max_workers=self.parallel, thread_name_prefix="detector")
            if self.parallel > 1
            else None
        )
        self._last_work: FrameWork | None = None
        # Motion regions: detect where the lane moved; the rest keeps its last boxes.
        self._regions = bool(
            m.motion_gating
            and m.motion_regions
            and isinstance(self.detector, StagedDetector)
            and self.detector.supports_regions
        )
        self._refresh_s = m.region_refresh_ms / 1000
        self._last_full = float("-inf")
        #: the last completed frame's (products, detector hands, people): what a region leaves alone
        self._last_seen: tuple[Detections, Detections | None, np.ndarray | None] | None = None
        self._known_boxes = np.zeros((0, 4), np.float32)
        #: known boxes by detector run, for planning regions (REGION_HINT_RUNS back)
        self._known_by_run: dict[int, np.ndarray] = {}
        #: detector runs on a region, and the input area detected (1.0 per whole frame)
        self.region_runs = 0
        self.detected_area = 0.0
        #: regions detected a second time, grown around an item they cut
        self.regrown = 0
        #: set to a list to record every detector call as (frame number, input rect or None)
        self.call_log: list | None = None
        self._submitted = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def _stage(self, name: str, since: float) -> float:
        now = time.perf_counter()
        self.times.add(name, (now - since) * 1000)
        self.last_stages.add(name)
        return now

    def _plan_region(self, size: tuple[int, int], ts: float):
        """(input rectangle, its image extent) to detect, or (None, None) for the whole frame.

        Planned from this frame's motion and the boxes of an older run
        (``REGION_HINT_RUNS``), so frames detected in parallel plan exactly
        what one at a time would; ``complete`` grows a region that still cuts
        a box seen on the frame before. A whole frame at least every
        ``region_refresh_ms`` catches what changed too slowly to count.
        """
        box = self.gate.motion_box if self.gate is not None else None
        if box is not None and self._last_seen is not None and ts - self._last_full < self._refresh_s:
            rect = self.detector.region_rect(size, box)
            if rect is not None:
                ext = self.detector.rect_to_image(size, rect)
                hint = self._known_by_run.get(self.detector_runs - REGION_HINT_RUNS)
                if hint is None:
                    return rect, ext
                grown_rect, grown = self._grow_region(size, ext, hint)
                if grown is not None:
                    return grown_rect or rect, grown
        self._last_full = ts
        return None, None

    def _grow_region(self, size: tuple[int, int], ext, known: np.ndarray):
        """Grow a region until every known box it touches lies inside it.

        Returns (rect, extent) of the grown region, the given extent with
        rect None when nothing was cut, or (None, None) for the whole frame.
        """
        rect = None
        for _ in range(4):
            touch = known[~boxes_outside(known, ext)]
            if boxes_inside(touch, ext).all():
                return rect, ext
            region = (
                min(ext[0], touch[:, 0].min()),
                min(ext[1], touch[:, 1].min()),
                max(ext[2], touch[:, 2].max()),
                max(ext[3], touch[:, 3].max()),
            )
            rect = self.detector.region_rect(size, region)
            if rect is None:
                return None, None
            ext = self.detector.rect_to_image(size, rect)
        return None, None

    def _detect(
        self, image: np.ndarray, rect: tuple[int, int, int, int] | None = None
    ) -> tuple[Detections, Detections | None, np.ndarray, dict]:
        """Products, hands when the product model itself detects them, people, and stage ms.

        Runs on a worker thread when frames run in parallel: touches no lane state.
        """
        stages = {}
        t = time.perf_counter()
        if self._split:
            x, lb = self.detector.preprocess(image, rect)
            now = time.perf_counter()
            stages["preprocess"], t = (now - t) * 1000, now
            dets = self.detector.decode(self.detector.infer(x), lb)
        else:
            dets = self.detector.detect(image)
        hands = dets.filter(np.isin(dets.class_id, self._hand_ids)) if len(self._hand_ids) else None
        # people (a COCO model's shopper) are no product, but evidence blurs their heads
        people = dets.xyxy[dets.class_id == self._person_id] if self._person_id >= 0 else None
        dets = dets.filter(np.isin(dets.class_id, self._product_ids))
        if self._one_box_per_item and len(dets) > 1:
            # Per-class NMS keeps a "milk" and a "soy_drink" box on one carton: two
            # tracks, a phantom journey and a false stacking alert. Keep the best label.
            # keep_stacks: never merge two boxes of one class, which per-class NMS judged
            # two items (two cartons of a kind stacked, the multi_item case).
            keep = (
                cross_class_nms(dets.xyxy, dets.score, dets.class_id, self._agnostic_iou)
                if self._keep_stacks
                else nms(dets.xyxy, dets.score, self._agnostic_iou)
            )
            dets = dets.filter(keep)
            if self._nested[0] > 0 and len(dets) > 1:
                # a box inside a much bigger one is part of that item (IoU cannot see it)
                dets = dets.filter(~nested_boxes(dets.xyxy, *self._nested))
            if self._hand_box_share > 0 and hands is not None and len(hands) and len(dets) > 1:
                # an item and the hand under it, boxed as one: no second item beside the first
                dets = dets.filter(
                    ~boxes_with_hand(dets.xyxy, dets.score, hands.xyxy, hand_share=self._hand_box_share)
                )
        stages["detect"] = (time.perf_counter() - t) * 1000
        return dets, hands, people, stages

    def submit(self, image: np.ndarray, ts: float) -> FrameWork:
        """Start a frame: the gate decides, the detector starts (on a worker when parallel)."""
        size = (image.shape[1], image.shape[0])
        if self.zones is None or self.zones.frame_size != size:
            self.zones = ZoneMapper(self.zones_cfg, size)
            m = self.models_cfg
            self._last_seen, self._known_boxes = None, np.zeros((0, 4), np.float32)
            self._known_by_run.clear()
            self.gate = (
                MotionGate(
                    self.zones_cfg,
                    size,
                    delta=m.motion_delta,
                    min_area_pct=m.motion_min_area_pct,
                    hold_s=m.motion_hold_ms / 1000,
                )
                if m.motion_gating
                else None
            )
            self._last_work = None
        work = FrameWork(ts, image, index=self._submitted)
        self._submitted += 1
        run = True
        if self.gate is not None:
            t = time.perf_counter()
            run = self.gate.check(image, ts)
            work.stages["gate"] = (time.perf_counter() - t) * 1000
        if run or self._last_work is None:
            rect = None
            work.run = self.detector_runs
            if self._regions:
                rect, work.region = self._plan_region(size, ts)
                if rect is not None:
                    W, H = self.detector.letterbox_for(size).input_size
                    self.region_runs += 1
                    self.detected_area += (rect[2] - rect[0]) * (rect[3] - rect[1]) / (W * H)
                else:
                    self.detected_area += 1.0
            if self.call_log is not None:
                self.call_log.append((work.index, rect))
            if self._pool is not None:
                work.detection = self._pool.submit(self._detect, image, rect)
            else:
                work.detection = _done(self._detect(image, rect))
            if self.gate is not None:
                self.gate.accept(ts)
            self._last_work = work
            self._still_frames = 0
            self.detector_runs += 1
        else:  # nothing moved: the detector would see what it saw last time
            work.source = self._last_work
            self.frames_gated += 1
            self._still_frames += 1
            # Zone hysteresis has settled on these same boxes: another update
            # would change nothing, so a still lane costs only the gate.
            work.settled = self._still_frames > self._settle_frames
        return work

    def complete(self, work: FrameWork) -> list[ZoneEvent]:
        """Finish a submitted frame (call in submit order): trackers, carry, zones."""
        self.last_stages = set()
        for name, ms in work.stages.items():
            self.times.add(name, ms)
            self.last_stages.add(name)
        if work.detection is not None:
            dets, hand_dets, people, stages = work.detection.result()
            work.detection = None  # the worker's result is ours now; free the future
            if work.region is not None and self._last_seen is not None:
                size = (work.image.shape[1], work.image.shape[0])
                rect, grown = self._grow_region(size, work.region, self._known_boxes)
                if rect is not None or grown is None:
                    # the motion cut an item seen last frame: detect again, around it too
                    dets, hand_dets, people, again = self._detect(work.image, rect)
                    if self.call_log is not None:
                        self.call_log.append((work.index, rect))
                    stages["detect"] = stages.get("detect", 0.0) + again["detect"]
                    self.regrown += 1
                    work.region = grown
            if work.region is not None and self._last_seen is not None:
                # a region: everything outside it is where it was last seen
                was_dets, was_hands, was_people = self._last_seen
                dets = dets.merge(was_dets.outside(work.region))
                if hand_dets is not None and was_hands is not None:
                    hand_dets = hand_dets.merge(was_hands.outside(work.region))
                if people is not None and was_people is not None:
                    # people are only blurred: keep every earlier box not wholly inside the
                    # region (blurring a stale one costs nothing; a cut-off head would show)
                    b = was_people.reshape(-1, 4)
                    people = np.concatenate([people, b[~boxes_inside(b, work.region)]])
            if self._regions:
                self._last_seen = (dets, hand_dets, people)
                # what a region must not cut: the tracked items and hands (people are only blurred)
                self._known_boxes = (
                    np.concatenate([dets.xyxy] + ([hand_dets.xyxy] if hand_dets is not None else []))
                    .astype(np.float32)
                    .reshape(-1, 4)
                )
                self._known_by_run[work.run] = self._known_boxes
                self._known_by_run.pop(work.run - REGION_HINT_RUNS - 1, None)
            for name in ("preprocess", "detect"):
                if name in stages:
                    self.times.add(name, stages[name])
                    self.last_stages.add(name)
            if people is not None:
                self.last_people = people
            if self.hands is not None:
                # A separate hand model keeps its own frame-to-frame state: run it
                # here, in frame order (it overlaps the next frame's detector).
                t = time.perf_counter()
                hand_dets = hands_to_detections(self.hands.detect(work.image))
                self._stage("hands", t)
            work.dets, work.hand_dets = dets, hand_dets
        else:
            src = work.source
            dets, hand_dets = src.dets, src.hand_dets
            work.source = None  # do not chain every gated frame back to the first
        work.image = None
        if work.settled:
            self.frames += 1
            return []
        t = time.perf_counter()
        hand_tracks: list[Track] = []
        if hand_dets is not None:
            hand_tracks = self.hand_tracker.update(hand_dets, work.ts)
        item_tracks = self.items.update(dets, work.ts)
        self.carry.update(item_tracks, hand_tracks)
        lost = self.items.lost_since_last_update() + self.hand_tracker.lost_since_last_update()
        events = self.zones.update(item_tracks + hand_tracks, work.ts, lost)
        self._stage("track", t)
        self.frames += 1
        self.last_items, self.last_hands = item_tracks, hand_tracks
        return events

    def process(self, image: np.ndarray, ts: float) -> list[ZoneEvent]:
        """One frame, start to finish."""
        return self.complete(self.submit(image, ts))
