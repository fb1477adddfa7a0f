"""Shared fixtures of the vision tests: real models and photos from the repository only."""

from pathlib import Path

import cv2
import pytest

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
