"""Where the lane moved: skip the detector on a still lane, detect only the part that moved.

Motion gating (``models.motion_gating``, on by default): a still lane costs
almost nothing. :class:`MotionGate` compares a 4x-downscaled grey frame with
the last frame the detector saw, inside the zones; when nothing moved (and
``motion_hold_ms`` has passed since the last motion), the detector and the
hand backend are skipped and the trackers are given the last detections
again -- exactly what the detector would return for an unchanged image, so
tracks keep their ids, coast and age as usual. Items standing still in the
bag are the baseline anyway. ``tests/perception/test_pipeline.py`` replays the demo
with gating on and off and checks the same alerts and journeys come out.

Motion regions (``models.motion_regions``, dynamic-input models only):
:class:`RegionPlanner` sends the detector only the part of a moving frame
around the motion, grown until it cuts no box seen before; every box outside
it is carried over from the frame before.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np

from edge_app.config import ModelsConfig, ZonesConfig
from edge_app.events import Zone
from edge_app.perception.boxes import boxes_inside, boxes_outside
from edge_app.perception.detector import Detector, Extent, InputRect, StagedDetector
from edge_app.perception.records import FrameDetections

#: the detector runs at least this often on a still scene (a safety net; slow
#: changes already add up against the last detected frame)
GATE_MAX_SKIP_S = 2.0
#: a region is planned around the boxes seen this many detector runs ago: a
#: run that old is complete whatever the number of frames in flight (at most
#: 4 + 1), so parallel lanes plan exactly what a one-at-a-time lane plans
REGION_HINT_RUNS = 5
#: the gate looks at the frame downscaled by this factor (area average: less noise)
GATE_SCALE = 4
#: the gate watches the convex hull of these zones (minus ``ignore``)
WATCHED_ZONES = (Zone.PICK, Zone.SCAN, Zone.BAG, Zone.GO_BACK)


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

    >>> z = ZonesConfig(
    ...     pick=[(0, 0), (0.5, 0), (0.5, 1)], scan=[(0.5, 0), (1, 0), (1, 1)], bag=[(0, 1), (1, 1), (1, 0.9)]
    ... )
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
        polygons = [getattr(zones, z.value) for z in WATCHED_ZONES]
        pts = [np.asarray(p, np.float64) for p in polygons if p]
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

    @classmethod
    def for_lane(
        cls, zones: ZonesConfig, frame_size: tuple[int, int], models: ModelsConfig
    ) -> MotionGate:
        """The gate ``models.motion_*`` asks for."""
        return cls(
            zones,
            frame_size,
            delta=models.motion_delta,
            min_area_pct=models.motion_min_area_pct,
            hold_s=models.motion_hold_ms / 1000,
        )

    def check(self, image: np.ndarray, ts: float) -> bool:
        # grey first, then shrink: one channel to average, a third less time than the other way
        # round
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


class RegionPlanner:
    """Which part of a moving frame the detector sees, and what the rest keeps.

    :meth:`plan` takes this frame's motion and the boxes of an older run
    (``REGION_HINT_RUNS``), so frames detected in parallel plan exactly what
    one at a time would. Once the frame before is complete, :meth:`regrow`
    grows a region that still cuts one of its boxes (the frame is detected
    again), and :meth:`fill_in` carries every box outside the region over. A
    whole frame at least every ``refresh_s`` catches what changed too slowly
    to count.
    """

    def __init__(self, detector: StagedDetector, refresh_s: float):
        self.detector = detector
        self.refresh_s = refresh_s
        self._last_full = float("-inf")
        #: the last completed frame's detections: what a region leaves alone
        self.last_seen: FrameDetections | None = None
        #: what a region must not cut (tracked items and hands), of the last frame and by detector run
        self._known_boxes = np.zeros((0, 4), np.float32)
        self._known_by_run: dict[int, np.ndarray] = {}

    @classmethod
    def for_lane(cls, models: ModelsConfig, detector: Detector) -> RegionPlanner | None:
        """The planner ``models.motion_regions`` asks for; None when off, ungated or the model cannot."""
        if not (models.motion_gating and models.motion_regions):
            return None
        if not isinstance(detector, StagedDetector) or not detector.supports_regions:
            return None
        return cls(detector, models.region_refresh_ms / 1000)

    def reset(self) -> None:
        """A new frame size: nothing is known about it."""
        self.last_seen, self._known_boxes = None, np.zeros((0, 4), np.float32)
        self._known_by_run.clear()

    def plan(
        self, size: tuple[int, int], ts: float, motion: Extent | None, run: int
    ) -> tuple[InputRect | None, Extent | None]:
        """(input rectangle, its image extent) to detect for run ``run``; (None, None): the whole frame."""
        if (
            motion is not None
            and self.last_seen is not None
            and ts - self._last_full < self.refresh_s
        ):
            rect = self.detector.region_rect(size, motion)
            if rect is not None:
                ext = self.detector.rect_to_image(size, rect)
                hint = self._known_by_run.get(run - REGION_HINT_RUNS)
                if hint is None:
                    return rect, ext
                grown_rect, grown = self.grow(size, ext, hint)
                if grown is not None:
                    return grown_rect or rect, grown
        self._last_full = ts
        return None, None

    def input_share(self, size: tuple[int, int], rect: InputRect) -> float:
        """The share of the whole-frame input that ``rect`` is."""
        W, H = self.detector.letterbox_for(size).input_size
        return (rect[2] - rect[0]) * (rect[3] - rect[1]) / (W * H)

    def grow(
        self, size: tuple[int, int], ext: Extent, known: np.ndarray
    ) -> tuple[InputRect | None, Extent | None]:
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

    def regrow(
        self, size: tuple[int, int], region: Extent
    ) -> tuple[bool, InputRect | None, Extent | None]:
        """Does ``region`` cut a box of the frame before?

        Returns (detect again, the input rect to detect, its extent), rect and
        extent None for the whole frame.
        """
        rect, grown = self.grow(size, region, self._known_boxes)
        return rect is not None or grown is None, rect, grown

    def fill_in(self, found: FrameDetections, region: Extent) -> FrameDetections:
        """``found`` on ``region``, and outside it everything where the frame before had it."""
        was = self.last_seen
        if was is None:
            return found
        items = found.items.merge(was.items.outside(region))
        hands, people = found.hands, found.people
        if hands is not None and was.hands is not None:
            hands = hands.merge(was.hands.outside(region))
        if people is not None and was.people is not None:
            # people are only blurred: keep every earlier box not wholly inside the
            # region (blurring a stale one costs nothing; a cut-off head would show)
            b = was.people.reshape(-1, 4)
            people = np.concatenate([people, b[~boxes_inside(b, region)]])
        return replace(found, items=items, hands=hands, people=people)

    def remember(self, found: FrameDetections, run: int) -> None:
        """``found`` is the last completed frame, from detector run ``run``."""
        self.last_seen = found
        # what a region must not cut: the tracked items and hands (people are only blurred)
        self._known_boxes = (
            np.concatenate(
                [found.items.xyxy] + ([found.hands.xyxy] if found.hands is not None else [])
            )
            .astype(np.float32)
            .reshape(-1, 4)
        )
        self._known_by_run[run] = self._known_boxes
        self._known_by_run.pop(run - REGION_HINT_RUNS - 1, None)
