"""The detector interface: what Perception needs, and what it does with less."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_app.config import load_config
from edge_app.perception.detections import Detections
from edge_app.perception.detector import StagedDetector
from edge_app.perception.pipeline import Perception
from edge_app.perception.yolo import YoloDetector

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"


class DetectOnly:
    """A detector with nothing but ``detect``: whole frames, one timed step."""

    names = ("person", "bottle")

    def detect(self, image):
        ys, xs = np.nonzero(image[:, :, 0] < 60)
        if not len(xs):
            return Detections.empty(self.names)
        return Detections(
            [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]], [0.9], [1], self.names
        )


def _moving_bottle(p: Perception, frames: int = 5) -> None:
    for i in range(frames):
        img = np.full((480, 640, 3), 120, np.uint8)
        img[300:360, 100 + 20 * i : 140 + 20 * i] = 30
        p.process(img, i / 15)


def test_the_yolo_detector_is_staged_and_a_detect_only_one_is_not():
    assert isinstance(
        YoloDetector(REPO / "models" / "yolo11n-coco-fp32dq-320.onnx", threads=1), StagedDetector
    )
    assert not isinstance(DetectOnly(), StagedDetector)


def test_a_detect_only_detector_gets_whole_frames_and_one_timed_step():
    p = Perception(load_config(DEMO), detector=DetectOnly())
    _moving_bottle(p)
    assert p.regions is None and p.stats.region_runs == 0
    assert p.stats.detector_runs == 5 and p.stats.call_log is None
    assert "detect" in p.stats.last_stages and "preprocess" not in p.stats.times.last
    assert len(p.last_items) == 1


def test_a_staged_detector_times_its_preprocess_apart():
    p = Perception(load_config(DEMO))
    _moving_bottle(p, frames=2)
    assert {"gate", "preprocess", "detect", "track"} <= p.stats.last_stages
    assert p.times is p.stats.times and p.frames == p.stats.frames == 2
    p.close()
