"""Motion: the gate that skips the detector on a still lane, the planner that detects only what moved."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_app.config import load_config
from edge_app.perception.boxes import boxes_inside
from edge_app.perception.detections import Detections
from edge_app.perception.motion import GATE_MAX_SKIP_S, MotionGate, RegionPlanner
from edge_app.perception.records import FrameDetections
from edge_app.perception.yolo import YoloDetector
from tests.perception.conftest import ZONES, noisy

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"
#: the demo's product model: a dynamic input, so it can detect regions
DYNAMIC_MODEL = REPO / "models" / "yolo11n-coco-fp32dq-320.onnx"


# ------------------------------------------------------------------- gate


def test_gate_ignores_sensor_noise_and_sees_an_item_move():
    rng = np.random.default_rng(1)
    base = np.full((480, 640, 3), 120, np.float32)
    gate = MotionGate(ZONES, (640, 480), hold_s=0.0)
    assert gate.check(noisy(base, rng), 0.0)  # no reference yet
    gate.accept(0.0)
    assert not any(gate.check(noisy(base, rng), t / 30) for t in range(1, 30))
    moved = base.copy()
    moved[300:360, 250:290] = 40  # a can over the scanner glass
    assert gate.check(noisy(moved, rng), 1.0)


def test_gate_ignores_motion_outside_the_zones_and_in_the_ignore_zone():
    rng = np.random.default_rng(2)
    base = np.full((480, 640, 3), 120, np.float32)
    gate = MotionGate(ZONES, (640, 480), hold_s=0.0)
    gate.check(noisy(base, rng), 0.0)
    gate.accept(0.0)
    above = base.copy()
    above[10:100, 200:400] = 250  # a shopper's head above the counter
    assert not gate.check(noisy(above, rng), 0.1)
    own_bag = base.copy()
    own_bag[420:470, 20:110] = 250  # the shopper's own bag, in `ignore`
    assert not gate.check(noisy(own_bag, rng), 0.2)


def test_gate_adds_up_slow_changes_against_the_last_detected_frame():
    base = np.full((480, 640, 3), 120, np.float32)
    gate = MotionGate(ZONES, (640, 480), hold_s=0.0, max_skip_s=1e9)
    gate.check(base.astype(np.uint8), 0.0)
    gate.accept(0.0)
    fired = None
    for i in range(1, 40):  # a box slides in one pixel (of the downscaled frame) per frame
        img = base.copy()
        img[300:360, 250 : 250 + 4 * i] = 30
        if gate.check(img.astype(np.uint8), i / 30):
            fired = i
            break
    assert fired is not None and fired < 40


def test_gate_holds_after_motion_and_runs_at_least_every_max_skip():
    base = np.full((480, 640, 3), 120, np.uint8)
    moved = base.copy()
    moved[300:360, 250:290] = 40
    gate = MotionGate(ZONES, (640, 480), hold_s=0.2)
    gate.check(base, 0.0)
    gate.accept(0.0)
    assert gate.check(moved, 1.0)
    gate.accept(1.0)
    assert gate.check(moved, 1.1)  # still within hold_ms of the motion
    gate.accept(1.1)
    assert not gate.check(moved, 1.3)
    assert not gate.check(moved, 1.1 + GATE_MAX_SKIP_S - 0.05)
    assert gate.check(moved, 1.1 + GATE_MAX_SKIP_S)  # the safety net


# ---------------------------------------------------------------- regions

SIZE = (640, 480)
NAMES = ("person", "bottle")


@pytest.fixture(scope="module")
def planner_detector() -> YoloDetector:
    return YoloDetector(DYNAMIC_MODEL, threads=1)


def _seen(items, people=None) -> FrameDetections:
    n = len(items)
    return FrameDetections(
        Detections(np.asarray(items, np.float32).reshape(-1, 4), [0.9] * n, [1] * n, NAMES),
        None,
        None if people is None else np.asarray(people, np.float32),
    )


def test_the_whole_frame_is_detected_until_something_was_seen_and_every_refresh(planner_detector):
    planner = RegionPlanner(planner_detector, refresh_s=1.0)
    motion = (250.0, 150.0, 280.0, 180.0)
    assert planner.plan(SIZE, 0.0, motion, run=0) == (None, None)  # nothing seen yet
    planner.remember(_seen([]), run=0)
    rect, ext = planner.plan(SIZE, 0.1, motion, run=1)
    assert rect is not None and ext is not None
    assert boxes_inside(np.array([motion]), ext).all()
    assert planner.plan(SIZE, 0.2, None, run=2) == (None, None)  # motion, but nowhere in particular
    assert planner.plan(SIZE, 1.2, motion, run=3) == (
        None,
        None,
    )  # region_refresh: a whole frame again


def test_a_region_grows_around_a_box_it_cuts(planner_detector):
    planner = RegionPlanner(planner_detector, refresh_s=1.0)
    known = np.array([[100, 100, 300, 200]], np.float32)
    ext = planner_detector.rect_to_image(
        SIZE, planner_detector.region_rect(SIZE, (270, 150, 290, 170))
    )
    assert not boxes_inside(known, ext).all()  # the motion's region cuts the bottle
    _, grown = planner.grow(SIZE, ext, known)
    assert grown is not None and boxes_inside(known, grown).all()
    planner.remember(_seen(known), run=0)
    again, _, regrown = planner.regrow(SIZE, ext)
    assert again and regrown == grown


def test_a_region_carries_over_what_lies_outside_it(planner_detector):
    planner = RegionPlanner(planner_detector, refresh_s=1.0)
    planner.remember(
        _seen([[10, 10, 50, 50], [400, 300, 450, 400]], people=[[0, 0, 100, 100]]), run=0
    )
    region = (350.0, 250.0, 500.0, 450.0)
    found = planner.fill_in(_seen([[405, 302, 455, 398]], people=np.zeros((0, 4))), region)
    # the bottle inside the region is the new one, the one outside is carried over
    assert found.items.xyxy.tolist() == [[405, 302, 455, 398], [10, 10, 50, 50]]
    assert found.people.tolist() == [[0, 0, 100, 100]]  # not wholly inside: still blurred


def test_regions_need_gating_and_a_model_that_takes_any_size(planner_detector):
    cfg = load_config(DEMO)
    assert cfg.models.motion_gating and cfg.models.motion_regions
    assert isinstance(RegionPlanner.for_lane(cfg.models, planner_detector), RegionPlanner)
    off = cfg.models.model_copy(update={"motion_gating": False})
    assert RegionPlanner.for_lane(off, planner_detector) is None
    fixed = YoloDetector(REPO / "models" / "yolo11n-coco-int8-320.onnx", threads=1)
    assert not fixed.supports_regions and RegionPlanner.for_lane(cfg.models, fixed) is None
