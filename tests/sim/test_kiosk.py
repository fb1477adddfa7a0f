"""The kiosk look, its transactions (every label, POS events) and the YOLO training sets."""

from __future__ import annotations

import numpy as np
import yaml

from edge_app.sim.dataset import sample_frame, write_dataset
from edge_app.sim.generate import generate, scanner_bytes, with_check_digit
from edge_app.sim.kiosk import CLASSES, GROCERY, Look, hand_position, plan_kiosk_session
from edge_app.sim.render import render
from edge_app.sim.scene import Scene
from edge_app.tools.scenario import TRUTH_LABELS, Scenario

ALL_LABELS = [
    "scanned",
    "missed_scan.pass_over",
    "missed_scan.bypass",
    "multi_item",
    "mismatch",
    "scan_without_item",
    "no_barcode_item",
]


def test_catalogue_gtins_are_valid_and_classes_known():
    for p in GROCERY:
        assert with_check_digit(p.gtin) == p.gtin, p.name
        assert p.cls in CLASSES
    assert CLASSES[0] == "hand" and len(set(CLASSES)) == len(CLASSES)


def test_a_transaction_with_every_label_writes_its_scans_pos_events_and_truth(tmp_path):
    (folder,) = generate(
        tmp_path,
        seed=5,
        count=1,
        difficulty="normal",
        size=(160, 120),
        fps=5.0,
        labels=[ALL_LABELS],
    )
    sc = Scenario(folder)
    assert sc.lane_config_path == (tmp_path / "lane.yaml").resolve()
    by_label = {}
    for j in sc.truth.journeys:
        by_label.setdefault(j.label, []).append(j)
    assert set(by_label) == set(TRUTH_LABELS)
    raw = b"".join(c.data for c in sc.scanner_chunks)
    reads = raw.count(b"\r")
    # one read each: scanned, the multi_item carrier (truth "scanned"), mismatch, scan_without_item
    assert reads == 4
    for j in (
        by_label["missed_scan.pass_over"]
        + by_label["missed_scan.bypass"]
        + by_label["no_barcode_item"]
    ):
        assert j.t_scan is None
    (mm,) = by_label["mismatch"]
    assert mm.scanned_gtin and mm.scanned_gtin != mm.gtin and scanner_bytes(mm.scanned_gtin) in raw
    lane = yaml.safe_load((tmp_path / "lane.yaml").read_text())
    labels = {g: v["label"] for g, v in lane["catalog"]["items"].items()}
    assert labels[mm.scanned_gtin] != labels[mm.gtin]
    (extra,) = by_label["multi_item"]
    carrier = [
        j
        for j in by_label["scanned"]
        if j.product == extra.product and abs(j.t_land - extra.t_land) < 0.5
    ]
    assert carrier and carrier[0].t_scan is not None
    (swi,) = by_label["scan_without_item"]
    assert swi.t_land is None and swi.t_scan is not None
    kinds = [e.kind for e in sc.pos_events]
    assert kinds[0] == "transaction_start" and kinds[-2:] == ["payment_start", "transaction_end"]
    (added,) = [e for e in sc.pos_events if e.kind == "item_added"]
    (produce,) = by_label["no_barcode_item"]
    assert added.gtin == produce.gtin and produce.t_over_scan < added.ts < produce.t_land
    assert max(j.t_land or 0 for j in sc.truth.journeys) < sc.pos_events[-2].ts < sc.meta.duration_s


def test_kiosk_frames_have_hands_over_items_and_differ_by_seed():
    s = plan_kiosk_session(3, 3, "hard")
    scene = Scene(width=320, height=240, items=s.items, look=s.look, end_s=s.end_s)
    p = s.items[0]
    t = (p.t_pick + p.t_land) / 2
    frame, boxes = render(scene, t, np.random.default_rng(0))
    assert frame.shape == (240, 320, 3)
    hands = [b for b in boxes if b["cls"] == "hand"]
    assert len(hands) == 1 and hand_position(p, t)[2]  # carrying
    item = next(b for b in boxes if b["item"] == 0)
    hx0, hy0, hx1, hy1 = hands[0]["xyxy"]
    ix0, iy0, ix1, iy1 = item["xyxy"]
    assert min(hx1, ix1) > max(hx0, ix0) and min(hy1, iy1) > max(
        hy0, iy0
    )  # the hand overlaps what it holds
    other = plan_kiosk_session(4, 3, "hard")
    assert other.look != s.look
    assert Look.random(np.random.default_rng(1)) == Look.random(np.random.default_rng(1))


def test_shopper_speeds_range_from_hesitant_to_fast():
    durations = []
    for seed in range(30):
        for plan in plan_kiosk_session(seed, 3, "hard").items:
            if plan.carrier is None:
                durations.append(plan.t_land - plan.t_pick)
    assert min(durations) < 1.6 and max(durations) > 4.0


def test_dataset_is_yolo_format_with_every_class(tmp_path):
    data = write_dataset(tmp_path / "ds", seed=3, images=40, val_fraction=0.25)
    cfg = yaml.safe_load(data.read_text())
    assert cfg["names"] == dict(enumerate(CLASSES))
    assert cfg["train"] == "images/train" and cfg["val"] == "images/val"
    labels = sorted((tmp_path / "ds" / "labels").rglob("*.txt"))
    assert len(labels) == 40 and len(list((tmp_path / "ds" / "images" / "val").glob("*.jpg"))) == 10
    seen = set()
    for f in labels:
        for line in f.read_text().splitlines():
            c, *xywh = line.split()
            seen.add(int(c))
            assert all(0.0 <= float(v) <= 1.0 for v in xywh)
    assert 0 in seen and len(seen) >= 5
    a, _ = sample_frame(3, 7)
    b, _ = sample_frame(3, 7)
    assert np.array_equal(a, b)
