"""Perception: gating, one box per item, parallel frames, motion regions; decisions unchanged by each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_app.config import load_config
from edge_app.perception.detections import Detections
from edge_app.perception.motion import GATE_MAX_SKIP_S
from edge_app.perception.pipeline import Perception

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"
SESSION = REPO / "calibration" / "demo" / "session-001"


# ------------------------------------------------------------- perception


class FakeDetector:
    """A detector that returns a still bottle wherever it is and counts its calls."""

    names = ("person", "bottle")

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        ys, xs = np.nonzero(image[:, :, 0] < 60)
        if not len(xs):
            return Detections.empty(self.names)
        return Detections(
            [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], [0.9], [1], self.names
        )


def _perception(gating: bool) -> tuple[Perception, FakeDetector]:
    cfg = load_config(DEMO)
    cfg = cfg.model_copy(update={"models": cfg.models.model_copy(update={"motion_gating": gating})})
    det = FakeDetector()
    return Perception(cfg, detector=det), det


def test_still_lane_skips_the_detector_and_keeps_its_tracks():
    p, det = _perception(gating=True)
    img = np.full((480, 640, 3), 120, np.uint8)
    img[300:360, 450:490] = 30  # a bottle standing in the bag
    for i in range(15 * 6):  # six seconds, longer than the tracker's max_lost_s
        p.process(img, i / 15)
    assert p.frames == 90
    assert det.calls == p.stats.detector_runs <= 1 + 6 / GATE_MAX_SKIP_S + 1
    assert p.stats.frames_gated == 90 - det.calls
    assert [(t.track_id, t.predicted) for t in p.last_items] == [(1, False)]
    assert p.zones.inside(1) == ["bag"]


def test_moving_item_is_detected_on_every_frame():
    p, det = _perception(gating=True)
    for i in range(30):
        img = np.full((480, 640, 3), 120, np.uint8)
        x = 100 + 12 * i
        img[300:360, x : x + 40] = 30
        p.process(img, i / 15)
    assert det.calls == 30 and p.stats.frames_gated == 0


def test_gating_off_runs_the_detector_on_every_frame():
    p, det = _perception(gating=False)
    img = np.full((480, 640, 3), 120, np.uint8)
    for i in range(20):
        p.process(img, i / 15)
    assert det.calls == 20 and p.gate is None


# ------------------------------------------------------------- decisions


def _journeys(events) -> list[tuple]:
    rows = []
    for e in events:
        if e.type.startswith(("journey.", "alert.")):
            d = e.data
            rows.append(
                (
                    e.type,
                    d.get("alert_type"),
                    d.get("gtin"),
                    d.get("over_scanner"),
                    None if d.get("landed_ts") is None else round(d["landed_ts"], 2),
                )
            )
    return rows


def test_demo_decides_the_same_with_motion_gating_on_and_off(tmp_path):
    from edge_app.tools.bench import lane_config, replay_lane
    from edge_app.tools.evaluate import score

    out = {}
    for gating in ("on", "off"):
        cfg = lane_config(str(DEMO), SESSION, state_dir=str(tmp_path / gating), gating=gating)
        out[gating] = replay_lane(cfg, SESSION)
    on, off = out["on"], out["off"]
    assert on["frames"] == off["frames"] == off["detector_runs"]
    assert on["detector_runs"] < on["frames"]  # the gate did skip still frames
    for run in (on, off):
        s = score(run["scenario"].truth, run["events"])
        assert (s.tp, s.fp, s.fn) == (2, 0, 0)
        assert sorted(a.data["alert_type"] for _, a in s.caught) == [
            "missed_scan.bypass",
            "missed_scan.pass_over",
        ]
    j_on, j_off = _journeys(on["events"]), _journeys(off["events"])
    assert [r[:4] for r in j_on] == [r[:4] for r in j_off]
    # motion regions see a box a few frames later or earlier at a region's edge:
    # the same journeys, landing times within half a second
    for a, b in zip(j_on, j_off, strict=True):
        assert (a[4] is None) == (b[4] is None) and (a[4] is None or abs(a[4] - b[4]) <= 0.5), (
            a,
            b,
        )
    assert len([r for r in j_on if r[0] == "journey.matched"]) == 3


def test_detector_hand_backend_tracks_the_lane_models_hand_class():
    """The lane-view model sees hands itself: hand tracks come with no second model."""
    from edge_app.config import load_config
    from edge_app.lane.camera import file_frames
    from edge_app.perception.pipeline import Perception

    suite = Path(__file__).resolve().parents[1] / "scenarios" / "suite"
    base = load_config(suite / "lane.yaml")
    hands = base.models.hands.model_copy(update={"backend": "detector"})
    cfg = base.model_copy(update={"models": base.models.model_copy(update={"hands": hands})})
    p = Perception(cfg)
    seen_hand = False
    for f in file_frames(str(suite / "suite-scanned" / "video.mp4")):
        events = p.process(f.image, f.ts)
        seen_hand |= bool(p.last_hands) or any(e.kind == "hand" for e in events)
        assert all(t.kind == "item" for t in p.last_items)
    assert seen_hand


def test_detector_hand_backend_needs_a_hand_class():
    from edge_app.config import load_config
    from edge_app.perception.models import ModelError
    from edge_app.perception.pipeline import Perception

    base = load_config(Path(__file__).resolve().parents[2] / "calibration" / "demo" / "lane.yaml")
    hands = base.models.hands.model_copy(update={"backend": "detector"})
    cfg = base.model_copy(update={"models": base.models.model_copy(update={"hands": hands})})
    with pytest.raises(ModelError, match="no 'hand' class"):
        Perception(cfg)


class TwoLabelDetector(FakeDetector):
    """One carton, two overlapping boxes with different labels (what per-class NMS keeps)."""

    names = ("person", "bottle", "cup")

    def detect(self, image):
        self.calls += 1
        return Detections(
            [[100, 100, 160, 260], [102, 98, 161, 262]], [0.8, 0.6], [1, 2], self.names
        )


def _items_after_six_frames(detector, hands_backend: str = "none", **products) -> Perception:
    """The demo lane with bottles and cups as products, gating off, fed six frames of ``detector``."""
    cfg = load_config(DEMO)
    products = cfg.models.products.model_copy(update={"classes": ["bottle", "cup"], **products})
    hands = cfg.models.hands.model_copy(update={"backend": hands_backend})
    models = cfg.models.model_copy(
        update={"products": products, "hands": hands, "motion_gating": False}
    )
    cfg = cfg.model_copy(update={"models": models})
    p = Perception(cfg, detector=detector)
    img = np.full((480, 640, 3), 120, np.uint8)
    for i in range(6):
        p.process(img, i / 15)
    return p


@pytest.mark.parametrize("one_box, expected", [(True, 1), (False, 2)])
def test_one_physical_item_gives_one_track(one_box, expected):
    p = _items_after_six_frames(TwoLabelDetector(), one_box_per_item=one_box)
    assert len(p.last_items) == expected
    if one_box:
        assert p.last_items[0].label == "bottle"  # the better-scored label wins


class StackDetector(FakeDetector):
    """Two cartons of one kind stacked in a hand: same class, boxes at 0.68 IoU
    (past the 0.6 across classes, within per-class NMS 0.7)."""

    names = ("person", "bottle", "cup")

    def detect(self, image):
        self.calls += 1
        return Detections(
            [[100, 100, 160, 260], [106, 84, 166, 244]], [0.8, 0.5], [1, 1], self.names
        )


@pytest.mark.parametrize("keep_stacks, expected", [(True, 2), (False, 1)])
def test_a_stack_of_one_kind_stays_two_items(keep_stacks, expected):
    p = _items_after_six_frames(StackDetector(), keep_stacks=keep_stacks)
    assert p.models_cfg.products.one_box_per_item
    assert len(p.last_items) == expected


class SubBoxDetector(FakeDetector):
    """A carton lying on its side: its whole box, and a second box on its right half
    (another label, IoU 0.35 with the whole: past NMS), as kset3 normal-4242-004 showed."""

    names = ("person", "bottle", "cup")

    def detect(self, image):
        self.calls += 1
        return Detections(
            [[77, 172, 220, 242], [131, 175, 203, 224]], [0.56, 0.8], [1, 2], self.names
        )


class OffsetStackDetector(FakeDetector):
    """Two cartons of one kind in one hand, offset as the scene generator stacks them: IoU 0.42, same size."""

    names = ("person", "bottle", "cup")

    def detect(self, image):
        self.calls += 1
        return Detections(
            [[100, 100, 177, 228], [119, 72, 196, 200]], [0.8, 0.6], [1, 1], self.names
        )


@pytest.mark.parametrize("nested_ios, expected", [(0.85, ["bottle"]), (0.0, ["bottle", "cup"])])
def test_a_box_inside_a_much_bigger_one_is_part_of_that_item(nested_ios, expected):
    p = _items_after_six_frames(SubBoxDetector(), nested_ios=nested_ios)
    assert (
        sorted(t.label for t in p.last_items) == expected
    )  # the whole carton stays, better score or not


def test_two_stacked_items_of_one_size_are_not_nested():
    p = _items_after_six_frames(OffsetStackDetector())
    assert len(p.last_items) == 2


class ItemInHandDetector(FakeDetector):
    """A bottle carried flat, the hand under it, and a weaker box around both
    (the boxes of kset10 normal-121212-025, 3.4 s: IoU 0.40 with the bottle, past NMS)."""

    names = ("person", "bottle", "cup", "hand")

    def detect(self, image):
        self.calls += 1
        return Detections(
            [[167, 208, 306, 278], [191, 215, 318, 338], [208, 266, 313, 360]],
            [0.66, 0.37, 0.87],
            [1, 1, 3],
            self.names,
        )


@pytest.mark.parametrize("share, expected", [(0.5, 1), (0.0, 2)])
def test_an_item_and_the_hand_under_it_boxed_as_one_are_no_second_item(share, expected):
    p = _items_after_six_frames(
        ItemInHandDetector(), hands_backend="detector", hand_box_share=share
    )
    assert len(p.last_items) == expected
    assert len(p.last_hands) == 1
    if expected == 1:
        assert p.last_items[0].xyxy[3] < 290  # the bottle's box stays, not the one with the hand


class HeldCartonDetector(FakeDetector):
    """SubBoxDetector's carton and sub-box, the hand holding the carton at its end."""

    names = ("person", "bottle", "cup", "hand")

    def detect(self, image):
        self.calls += 1
        return Detections(
            [[77, 172, 220, 242], [131, 175, 203, 224], [60, 180, 100, 250]],
            [0.56, 0.8, 0.9],
            [1, 2, 3],
            self.names,
        )


def test_a_carton_held_at_its_end_is_not_taken_for_its_sub_box_and_a_hand():
    p = _items_after_six_frames(HeldCartonDetector(), hands_backend="detector", nested_ios=0.0)
    assert sorted(t.label for t in p.last_items) == [
        "bottle",
        "cup",
    ]  # the hand is no "rest" of the carton


def test_people_are_kept_for_the_evidence_blur_not_tracked():
    import cv2

    cfg = load_config(DEMO)
    p = Perception(cfg)
    img = cv2.imread(str(Path(__file__).resolve().parents[1] / "assets" / "bus.jpg"))
    p.process(img, 0.0)
    assert len(p.last_people) >= 3  # the people on bus.jpg
    assert all(t.label != "person" for t in p.last_items)


# ---------------------------------------------------------------- parallel frames


def test_parallel_frames_decide_exactly_as_one_frame_at_a_time(tmp_path):
    """Only the detectors overlap: the engine sees the same frames, scans and ticks in the same order."""
    from edge_app.tools.bench import lane_config, replay_lane

    out = {}
    for n in (1, 2, 3):
        cfg = lane_config(str(DEMO), SESSION, state_dir=str(tmp_path / str(n)), parallel=n)
        out[n] = replay_lane(cfg, SESSION)
    assert out[1]["frames"] == out[2]["frames"] == out[3]["frames"] == 320
    assert out[1]["detector_runs"] == out[2]["detector_runs"] == out[3]["detector_runs"]
    one = [
        (e.type, round(e.ts, 6), e.data.get("alert_type"), e.data.get("journey_id"))
        for e in out[1]["events"]
    ]
    for n in (2, 3):
        assert [
            (e.type, round(e.ts, 6), e.data.get("alert_type"), e.data.get("journey_id"))
            for e in out[n]["events"]
        ] == one
    assert sum(1 for e in out[2]["events"] if e.type == "alert.raised") == 2


def test_detector_buffers_are_per_thread():
    """Two frames detected at once on one session give what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    from edge_app.lane.camera import file_frames
    from edge_app.perception.yolo import YoloDetector

    det = YoloDetector(REPO / "models" / "yolo11n-coco-fp32dq-320.onnx", conf=0.1, threads=1)
    images = [
        f.image
        for i, f in zip(range(40), file_frames(str(SESSION / "video.mp4")), strict=False)
        if i % 4 == 0
    ]
    alone = [det.detect(img) for img in images]
    with ThreadPoolExecutor(max_workers=3) as pool:
        together = list(pool.map(det.detect, images))
    for a, b in zip(alone, together, strict=True):
        assert np.array_equal(a.class_id, b.class_id)
        assert np.allclose(a.xyxy, b.xyxy, atol=1e-3) and np.allclose(a.score, b.score, atol=1e-5)
    assert sum(len(a) for a in alone) > 0


# ---------------------------------------------------------------- motion regions


def test_motion_regions_crop_the_detector_and_keep_the_decisions(tmp_path):
    """Regions detect a part of most frames, and the demo raises the same alerts as whole frames."""
    from edge_app.tools.bench import lane_config, replay_lane
    from edge_app.tools.evaluate import override

    out = {}
    for regions in (True, False):
        cfg = lane_config(str(DEMO), SESSION, state_dir=str(tmp_path / str(regions)), parallel=1)
        cfg = override(cfg, "models.motion_regions", regions)
        out[regions] = replay_lane(cfg, SESSION)
    assert out[True]["region_runs"] > out[True]["detector_runs"] // 2
    assert out[True]["detected_area_pct"] < 80
    assert out[False]["region_runs"] == 0
    alerts = {
        k: sorted(e.data.get("alert_type") for e in v["events"] if e.type == "alert.raised")
        for k, v in out.items()
    }
    assert alerts[True] == alerts[False] == ["missed_scan.bypass", "missed_scan.pass_over"]


def test_a_region_keeps_the_boxes_outside_it():
    """Items away from the motion keep their last boxes; only the moving corner is detected anew."""
    import cv2

    cfg = load_config(DEMO)
    p = Perception(cfg)
    cap = cv2.VideoCapture(str(SESSION / "video.mp4"))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 200)  # three bottles on the counter
    ok, img = cap.read()
    cap.release()
    assert ok
    work = p.submit(img, 0.0)
    p.complete(work)
    seen = work.detections.items
    far = seen.xyxy[seen.xyxy[:, 0] > 400]
    assert len(far) == 2  # the two bottles on the right, far from the change below
    moved = img.copy()
    moved[420:470, 10:60] = (
        255 - moved[420:470, 10:60]
    )  # something changes in the pick zone's corner
    work = p.submit(moved, 1 / 15)
    assert work.region is not None and work.region[2] < 400  # only the left part is detected
    p.complete(work)
    assert p.stats.region_runs == 1
    for box in far:  # the tracker is fed the right-hand bottles exactly as they were seen
        assert (work.detections.items.xyxy == box).all(axis=1).any(), box
