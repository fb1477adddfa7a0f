"""`edge-app eval-vision`: the scoring rules on hand-made cases, the labelled set, the command."""

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.tools.eval_vision import (
    LabelError,
    Model,
    Prediction,
    Truth,
    match,
    parse_labels,
    read_labels,
    report,
    run_model,
    score_image,
    summarise,
)

REPO = Path(__file__).resolve().parents[2]
SET = REPO / "tests" / "assets" / "vision_eval"


def boxes(*rows):
    return np.array(rows, np.float32).reshape(-1, 4)


def truth(items=(), hands=(), name="p.jpg", label_set="A"):
    return Truth(name, label_set, boxes(*items), boxes(*hands))


# --- matching -------------------------------------------------------------


def test_a_box_is_found_at_iou_half_and_not_below():
    label = boxes([0, 0, 100, 100])
    at_half = boxes([0, 0, 100, 50])  # IoU 0.5
    below = boxes([0, 0, 100, 49])  # IoU 0.49
    assert match(at_half, [0.9], label)[0].tolist() == [True]
    assert match(below, [0.9], label)[0].tolist() == [False]
    assert match(below, [0.9], label, iou=0.4)[0].tolist() == [True]


def test_a_label_is_matched_once_and_the_second_box_on_it_is_false():
    found, hit = match(boxes([0, 0, 10, 10], [1, 1, 10, 10]), [0.6, 0.9], boxes([0, 0, 10, 10]))
    assert found.tolist() == [True]
    assert hit.tolist() == [False, True]  # the better-scored box takes the label


def test_each_box_takes_the_label_it_overlaps_most():
    labels = boxes([0, 0, 10, 10], [3, 0, 13, 10])
    # the best box qualifies for both labels (IoU 0.67 and 0.82) and takes the second; the
    # other box qualifies for the first only (IoU 0.9; 0.46 with the second)
    found, hit = match(boxes([2, 0, 12, 10], [0, 0, 9, 10]), [0.9, 0.5], labels)
    assert found.tolist() == [True, True] and hit.tolist() == [True, True]


def test_the_centre_rule_finds_a_palm_box_inside_the_hand():
    hand = boxes([0, 100, 200, 300])
    palm = boxes([40, 180, 100, 240])  # IoU 0.09: no hand at IoU 0.5, but it is on the hand
    assert match(palm, [0.9], hand)[0].tolist() == [False]
    assert match(palm, [0.9], hand, centre=True)[0].tolist() == [True]
    beside = boxes([190, 100, 400, 300])  # centre at x 295: outside the hand
    assert match(beside, [0.9], hand, centre=True)[0].tolist() == [False]


def test_no_boxes_or_no_labels_match_nothing():
    assert match(boxes(), [], boxes([0, 0, 1, 1]))[0].tolist() == [False]
    assert match(boxes([0, 0, 1, 1]), [0.5], boxes())[1].tolist() == [False]


# --- one photo, many photos -----------------------------------------------


def test_score_image_counts_found_labels_and_false_boxes():
    t = truth(items=[[100, 100, 200, 300]], hands=[[0, 150, 150, 400]])
    pred = Prediction.of(
        items=[[100, 100, 200, 290], [300, 0, 340, 60], [102, 100, 200, 300]],  # held, shelf, again
        item_scores=[0.5, 0.9, 0.4],
        hands=[[40, 200, 90, 260], [250, 350, 300, 400]],  # on the palm, on the floor
        hand_scores=[0.8, 0.7],
    )
    row = score_image(t, pred)
    assert row["items_found"] == 1 and row["false_items"] == 2 and row["item_boxes"] == 3
    assert row["item_top"] is False  # the best-scored item box is on the shelf
    assert row["hands_found"] == 0 and row["false_hands"] == 2
    assert row["hands_found_centre"] == 1 and row["false_hands_centre"] == 1


def test_a_model_that_does_not_look_gets_no_score_there():
    t = truth(items=[[0, 0, 10, 10]], hands=[[0, 0, 10, 10]])
    row = score_image(t, Prediction.of(hands=[[0, 0, 10, 10]], hand_scores=[0.9]), items=False)
    assert "items_found" not in row and row["hands_found"] == 1
    s = summarise([row | {"ms": 3.0}])
    assert "item_recall" not in s and s["hand_recall"] == 1.0 and s["false_boxes_per_image"] == 0


def test_summarise_pools_labels_not_photos():
    rows = [
        {"items": 2, "items_found": 1, "item_top": True, "item_boxes": 4, "false_items": 3},
        {"items": 1, "items_found": 1, "item_top": False, "item_boxes": 1, "false_items": 0},
    ]
    s = summarise([r | {"ms": ms} for r, ms in zip(rows, (10.0, 20.0), strict=True)])
    assert s["item_recall"] == round(2 / 3, 4) and s["item_top"] == 0.5
    assert s["false_items_per_image"] == 1.5 and s["false_boxes_per_image"] == 1.5
    assert s["ms_mean"] == 15.0


def test_run_model_scores_each_photo_and_times_it_with_the_clock():
    truths = [
        truth(items=[[0, 0, 10, 10]], hands=[[5, 5, 20, 20]], name="a.jpg", label_set="A"),
        truth(items=[[0, 0, 10, 10]], hands=[[5, 5, 20, 20]], name="b.jpg", label_set="B"),
    ]
    by_name = {t.file: t for t in truths}
    frames = {t.file: np.full((4, 4, 3), i, np.uint8) for i, t in enumerate(truths)}

    def labels_back(frame):  # a perfect model: the labels of the photo it is shown
        t = truths[int(frame[0, 0, 0])]
        return Prediction.of(t.items, [0.9], t.hands, [0.9])

    ticks = iter(np.arange(0.0, 10.0, 0.004))
    rows = run_model(
        Model("perfect", True, True, labels_back),
        truths,
        lambda t: frames[by_name[t.file].file],
        clock=lambda: float(next(ticks)),
    )
    assert [r["file"] for r in rows] == ["a.jpg", "b.jpg"]
    assert all(r["ms"] == pytest.approx(4.0) for r in rows)
    summary = report({"perfect": rows})["perfect"]
    assert set(summary) == {"A", "B", "all"}
    assert summary["all"]["item_recall"] == 1.0 and summary["all"]["hand_recall"] == 1.0
    assert summary["all"]["false_boxes_per_image"] == 0


# --- the labels file ------------------------------------------------------

HEAD = "file,set,class,x0,y0,x1,y1"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("a.jpg,A,bottle,0,0,10,10", "class must be item or hand"),
        ("a.jpg,A,item,10,0,10,10", "x0 < x1"),
        ("a.jpg,A,item,0,0,ten,10", "must be numbers"),
        ("a.jpg,,item,0,0,10,10", "must not be empty"),
    ],
)
def test_a_bad_label_row_is_refused_with_its_line(row, problem):
    with pytest.raises(LabelError, match=rf"labels.csv:3: .*{problem}"):
        parse_labels([HEAD, "a.jpg,A,hand,0,0,5,5", row])


def test_a_photo_in_two_sets_is_refused():
    with pytest.raises(LabelError, match="in set 'A' and 'B'"):
        parse_labels([HEAD, "a.jpg,A,item,0,0,5,5", "a.jpg,B,hand,0,0,5,5"])


def test_labels_group_by_photo():
    (t,) = parse_labels(
        [HEAD, "a.jpg,A,item,0,0,5,5", "a.jpg,A,hand,1,1,4,4", "a.jpg,A,hand,2,2,3,3"]
    )
    assert t.set == "A" and t.items.shape == (1, 4) and t.hands.shape == (2, 4)


# --- the shipped set ------------------------------------------------------


def test_the_shipped_set_is_whole_and_its_provenance_true():
    truths = read_labels(SET)
    readme = (SET / "README.md").read_text()
    listed = dict(re.findall(r"^\| `([^`]+\.jpg)` \| [AB] \| .*`([0-9a-f]{64})` \|$", readme, re.M))
    assert {t.set for t in truths} == {"A", "B"} and 60 <= len(truths) <= 110
    assert set(listed) == {t.file for t in truths}
    assert sorted(p.name for p in (SET / "images").iterdir()) == sorted(listed)
    for t in truths:
        data = (SET / "images" / t.file).read_bytes()
        assert hashlib.sha256(data).hexdigest() == listed[t.file], t.file
        h, w = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR).shape[:2]
        assert len(t.items) == 1 and len(t.hands) >= 1, t.file
        for b in np.vstack([t.items, t.hands]):
            assert 0 <= b[0] < b[2] <= w and 0 <= b[1] < b[3] <= h, (t.file, b)
    assert (SET / "LICENSE").read_text().startswith("MIT License")


# --- the command ----------------------------------------------------------


def run_cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "edge_app", "eval-vision", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=240,
    )


def test_the_command_scores_the_models_side_by_side(tmp_path):
    out = tmp_path / "vision.json"
    models = ["lane-products-hands-320", "yolo11n-coco-fp32dq-320", "mediapipe", "mediapipe-palm"]
    r = run_cli(SET, "--limit", 3, "--threads", 1, "--json", out, "--models", *models)
    assert r.returncode == 0, r.stderr
    doc = json.loads(out.read_text())
    assert list(doc["models"]) == models
    assert [len(rows) for rows in doc["images"].values()] == [3, 3, 3, 3]
    lane, coco, mp = (doc["models"][m]["all"] for m in models[:3])
    keys = {"item_recall", "hand_recall", "hand_recall_centre", "false_boxes_per_image"}
    assert keys <= set(lane)
    assert "hand_recall" not in coco and "item_recall" not in mp
    assert all(s["ms_mean"] > 0 for s in (lane, coco, mp))
    table = r.stdout.splitlines()
    assert "item R@.5" in table[0] and sum(line.startswith("all ") for line in table) == 4


def test_the_command_draws_contact_sheets(tmp_path):
    r = run_cli(SET, "--limit", 5, "--sheets", tmp_path, "--draw", "mediapipe")
    assert r.returncode == 0, r.stderr
    (sheet,) = sorted(tmp_path.glob("sheet-*.png"))
    assert cv2.imread(str(sheet)).shape[1] > 1000


def test_an_unknown_model_or_set_is_a_clear_error():
    r = run_cli(SET, "--limit", 1, "--models", "no-such-model")
    assert r.returncode == 2 and "unknown model 'no-such-model'" in r.stderr
    r = run_cli(SET, "--set", "C")
    assert r.returncode == 2 and "no photos in set ['C']" in r.stderr
