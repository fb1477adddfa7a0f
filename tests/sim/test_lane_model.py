"""The shipped lane-view model (models/lane-products-hands-320.onnx) on freshly rendered frames.

Runs through the edge's own path (manifest check, ONNX Runtime, raw decoder),
not Ultralytics: products and hands must be found where the renderer put them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_app.sim.dataset import sample_frame
from edge_app.sim.kiosk import CLASSES

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "lane-products-hands-320.onnx"
pytestmark = pytest.mark.skipif(
    not MODEL.is_file(), reason="lane model not built (edge-app models train)"
)


def _iou(a, b) -> float:
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@pytest.fixture(scope="module")
def detector():
    from edge_app.perception.yolo import YoloDetector

    return YoloDetector(MODEL, conf=0.25, iou=0.7, require_manifest=True)


def test_manifest_entry_matches_the_file_and_the_classes(detector):
    assert detector.names == CLASSES
    assert detector.input_size == (320, 320)


def test_finds_products_and_hands_in_fresh_frames(detector):
    found = {"product": [0, 0], "hand": [0, 0]}
    false_pos = 0
    for i in range(24):  # seed 9999: never used for training or validation
        frame, boxes = sample_frame(9999, i)
        det = detector.detect(frame)
        used = set()
        for c, *xyxy in boxes:
            kind = "hand" if CLASSES[c] == "hand" else "product"
            found[kind][1] += 1
            for k in range(len(det.xyxy)):
                if k not in used and det.class_id[k] == c and _iou(det.xyxy[k], xyxy) >= 0.5:
                    used.add(k)
                    found[kind][0] += 1
                    break
        false_pos += len(det.xyxy) - len(used)
    recall = {k: v[0] / max(1, v[1]) for k, v in found.items()}
    assert recall["product"] >= 0.7, recall
    assert recall["hand"] >= 0.6, recall
    assert false_pos <= 0.3 * sum(v[1] for v in found.values())
