"""Face detectors for the evidence blur, on real photos through ONNX Runtime.

The face boxes were drawn by eye (tests/assets/faces/labels.json); MediaPipe's
own detections on the same photos (tests/assets/faces/mediapipe_reference.json,
scripts/make_blazeface_fixture.py) are the reference for the converted model.
"""

import json

import cv2
import numpy as np
import pytest

from edge_app.perception.boxes import box_iou
from edge_app.perception.faces import (
    BlazeFace,
    HaarFaces,
    default_blazeface_path,
    grow,
    make_face_detector,
    tile_rects,
    weighted_nms,
)
from edge_app.perception.models import ModelError, find_spec, open_model
from tests.fixtures.photos import ASSETS, lane_frame

LABELS = json.loads((ASSETS / "faces" / "labels.json").read_text())["faces"]
REFERENCE = json.loads((ASSETS / "faces" / "mediapipe_reference.json").read_text())["detections"]
NO_FACES = sorted(
    [*(ASSETS / "grocery").glob("*.jpg"), *(ASSETS / "retail").glob("*.jpg")]
    + [ASSETS / "hands" / "pexels-daria-shevtsova-1578238.jpg"]
    + [ASSETS / "hands" / "pexels-ricardo-utsumi-1314554.jpg"]
)


@pytest.fixture(scope="module")
def blazeface():
    return BlazeFace()


def test_the_shipped_model_is_its_manifest_entry():
    model = open_model(default_blazeface_path(), threads=1, warmup=False)
    spec = find_spec(default_blazeface_path())
    assert spec is not None and spec.task == "faces" and spec.output_format == "mediapipe_face"
    assert "Apache-2.0" in spec.licence and "mediapipe==0.10.14" in spec.source
    assert model.output_names == ["regressors", "classificators"]


@pytest.mark.parametrize(
    "rel",
    [
        "faces/keijiro-Test7.jpg",
        "faces/keijiro-Test3.jpg",
        "faces/mps-testImg.jpg",
        "faces/mps-business-person.jpg",
        "hands/pexels-natalie-3759656.jpg",
        "zidane.jpg",
    ],
)
def test_every_labelled_face_is_found_in_a_lane_frame(blazeface, rel):
    frame, faces = lane_frame(rel)
    found = blazeface.detect(frame)
    assert len(found), rel
    iou = box_iou(faces, found[:, :4]).max(axis=1)
    assert (iou >= 0.3).all(), f"{rel}: best IoU per labelled face {iou.round(2).tolist()}"
    assert len(found) == len(faces)  # and nothing else


def test_photos_without_a_face_get_no_face_box(blazeface):
    rels = [str(p.relative_to(ASSETS)) for p in NO_FACES]
    boxes = {rel: blazeface.detect(lane_frame(rel)[0]).round(1).tolist() for rel in rels}
    assert not any(boxes.values()), {k: v for k, v in boxes.items() if v}


@pytest.mark.parametrize("rel", sorted(REFERENCE))
def test_the_onnx_model_finds_the_faces_mediapipe_finds(rel):
    """Whole frame at MediaPipe's default threshold, as its own graph runs it."""
    ours = BlazeFace(conf=0.5, tile=0).detect(cv2.imread(str(ASSETS / rel)))
    theirs = np.array(REFERENCE[rel], np.float32).reshape(-1, 5)
    assert len(ours) == len(theirs)
    if len(theirs):
        # MediaPipe resizes without antialiasing (INTER_LINEAR), the lane with INTER_AREA
        assert (box_iou(theirs[:, 1:], ours[:, :4]).max(axis=1) >= 0.75).all()
        assert (ours[:, 4] > 0.5).all()


def test_a_small_face_is_found_in_a_tile_not_in_the_whole_frame():
    photo = cv2.imread(str(ASSETS / "faces" / "mps-business-person.jpg"))
    face = np.array(LABELS["faces/mps-business-person.jpg"][0], np.float32)
    s = 50 / float(face[2] - face[0])  # the face 50 px wide in a 640x480 frame
    small = cv2.resize(photo, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 90, np.uint8)
    frame[200 : 200 + small.shape[0], 300 : 300 + small.shape[1]] = small
    want = face * s + np.array([300, 200, 300, 200], np.float32)
    whole = BlazeFace(tile=0).detect(frame)
    tiled = BlazeFace().detect(frame)
    assert not len(whole) or box_iou(want[None], whole[:, :4]).max() < 0.3
    assert len(tiled) == 1 and box_iou(want[None], tiled[:, :4]).max() >= 0.3


def test_tiles_cover_the_frame_and_overlap():
    rects = tile_rects(640, 480, 320)
    covered = np.zeros((480, 640), bool)
    for x0, y0, x1, y1 in rects:
        assert x1 - x0 == 320 and y1 - y0 == 320
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    assert tile_rects(100, 100, 320) == [] and tile_rects(640, 480, 0) == []


def test_weighted_nms_merges_one_face_seen_twice():
    boxes = np.array([[100, 100, 150, 150], [104, 100, 154, 150], [300, 300, 340, 340]])
    out = weighted_nms(boxes, np.array([0.9, 0.6, 0.8]))
    assert len(out) == 2 and out[0, 4] == pytest.approx(0.9)
    assert out[0, 0] == pytest.approx((100 * 0.9 + 104 * 0.6) / 1.5)
    assert weighted_nms(np.zeros((0, 4)), np.zeros(0)).shape == (0, 5)


def test_grown_boxes_stay_in_the_frame():
    out = grow(np.array([[0, 10, 40, 50, 0.9], [600, 440, 640, 480, 0.8]]), 0.25, 640, 480)
    assert out.tolist() == [[0, 0, 50, 60], [590, 430, 640, 480]]
    assert grow(np.zeros((0, 5)), 0.25, 640, 480).shape == (0, 4)


def test_haar_runs_where_opencv_has_cascades_and_says_why_not_elsewhere():
    if not hasattr(cv2, "CascadeClassifier"):
        with pytest.raises(ModelError, match="no CascadeClassifier"):
            HaarFaces()
        return
    found = HaarFaces().detect(cv2.imread(str(ASSETS / "faces" / "keijiro-Test3.jpg")))
    faces = np.array(LABELS["faces/keijiro-Test3.jpg"], np.float32)
    assert (box_iou(faces, found[:, :4]).max(axis=1) >= 0.3).sum() >= 2


def test_a_missing_or_unknown_detector_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        make_face_detector("blazeface", tmp_path / "gone.onnx")
    with pytest.raises(ModelError, match="unknown face detector"):
        make_face_detector("retinaface")
    assert make_face_detector("none") is None
