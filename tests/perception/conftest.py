"""Shared fixtures of the vision tests: real models and photos from the repository only."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge_app.config import ZonesConfig

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models"
ASSETS = ROOT / "tests" / "assets"
YOLO11 = MODELS / "yolo11n-coco-int8-320.onnx"
YOLOV8 = MODELS / "yolov8n-coco-int8-640.onnx"
PALM = MODELS / "mediapipe-palm-detection-128.onnx"
LANDMARK = MODELS / "mediapipe-hand-landmark-224.onnx"


def read_image(rel: str):
    img = cv2.imread(str(ASSETS / rel))
    assert img is not None, f"missing test asset {rel}"
    return img


@pytest.fixture(scope="session")
def mediapipe_hands():
    from edge_app.perception.hands import MediaPipeHands

    return MediaPipeHands(PALM, LANDMARK, palm_conf=0.5)


#: the demo lane's zones (normalised), for perception tests that build a lane by hand
ZONES = ZonesConfig(
    pick=[(0.0, 0.3), (0.3, 0.3), (0.3, 1.0), (0.0, 1.0)],
    scan=[(0.38, 0.42), (0.6, 0.42), (0.6, 1.0), (0.38, 1.0)],
    bag=[(0.68, 0.3), (1.0, 0.3), (1.0, 1.0), (0.68, 1.0)],
    ignore=[(0.0, 0.85), (0.2, 0.85), (0.2, 1.0), (0.0, 1.0)],
)


def noisy(base: np.ndarray, rng: np.random.Generator, sigma: float = 3.0) -> np.ndarray:
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)
