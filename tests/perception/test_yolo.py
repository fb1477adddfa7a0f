"""Decoders on synthetic tensors, letterbox arithmetic, and the detector on tiny graphs."""

import cv2
import numpy as np
import pytest

from edge_app.perception.boxes import box_iou, nms
from edge_app.perception.decoders import decode_end2end, decode_raw, decode_yolox, yolox_grid
from edge_app.perception.detections import Detections
from edge_app.perception.letterbox import Letterbox
from edge_app.perception.yolo import YoloDetector
from tests.perception.conftest import ROOT, YOLO11, read_image
from tests.perception.onnx_graphs import constant_model

# (image w, h) -> input (w, h) -> (new w, new h, left, top): Ultralytics LetterBox(center=True)
LETTERBOX = [
    ((810, 1080), (320, 320), (240, 320, 40, 0)),  # bus.jpg
    ((1280, 720), (320, 320), (320, 180, 0, 70)),  # zidane.jpg
    ((1280, 720), (640, 640), (640, 360, 0, 140)),
    ((100, 97), (100, 100), (100, 97, 0, 1)),  # odd pad 3: round(1.5-0.1)=1 top, 2 bottom
    ((99, 100), (100, 100), (99, 100, 0, 0)),  # odd pad 1: round(0.4)=0 left, round(0.6)=1 right
    ((640, 640), (640, 640), (640, 640, 0, 0)),
    ((348, 464), (320, 320), (240, 320, 40, 0)),
    ((3000, 1), (320, 320), (320, 1, 0, 159)),  # thin images keep at least 1 px
]


@pytest.mark.parametrize("image,inp,expected", LETTERBOX)
def test_letterbox_plan_is_ultralytics(image, inp, expected):
    lb = Letterbox.plan(image, inp)
    assert (*lb.new_size, lb.left, lb.top) == expected


def test_letterbox_pads_grey_and_places_the_image():
    img = np.full((720, 1280, 3), 200, np.uint8)
    lb = Letterbox.plan((1280, 720), (320, 320))
    out = lb.apply(img)
    assert out.shape == (320, 320, 3)
    assert (out[:70] == 114).all() and (out[250:] == 114).all() and (out[70:250] == 200).all()


def test_boxes_round_trip_and_clip_to_the_image():
    lb = Letterbox.plan((810, 1080), (320, 320))
    gx, gy = lb.gain
    box = np.array([[100, 200, 500, 900]], np.float32)
    forward = box * [gx, gy, gx, gy] + [lb.left, lb.top, lb.left, lb.top]
    np.testing.assert_allclose(lb.boxes_to_image(forward), box, atol=1e-3)
    np.testing.assert_allclose(lb.boxes_to_image([[0, -5, 330, 400]]), [[0, 0, 810, 1080]])
    np.testing.assert_allclose(
        lb.points_to_image(np.array([[[30, 5, 0.7]]])), [[[0, 5 / gy, 0.7]]], rtol=1e-6
    )


def raw_tensor(boxes_xywh, class_scores):
    """[1, 4+nc, N] like an Ultralytics raw head."""
    return np.concatenate(
        [np.array(boxes_xywh, np.float32).T, np.array(class_scores, np.float32).T]
    )[None]


def test_raw_decode_nms_is_per_class():
    out = raw_tensor(
        [[50, 50, 40, 40], [52, 50, 40, 40], [51, 50, 40, 40], [200, 200, 10, 10]],
        [[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.0, 0.25]],  # the last is not > conf
    )
    rows = decode_raw(out, conf=0.25, iou=0.7)
    assert rows[:, 5].tolist() == [0, 1]  # overlapping class-0 pair → one; the class-1 box survives
    np.testing.assert_allclose(rows[0, :4], [30, 30, 70, 70])
    assert len(decode_raw(out, conf=0.25, iou=0.7, agnostic=True)) == 1


def test_raw_decode_keeps_max_det_best():
    n = 400
    xs = np.arange(n) * 30.0
    out = raw_tensor([[x, 10, 20, 20] for x in xs], [[0.3 + 0.6 * i / n] for i in range(n)])
    rows = decode_raw(out, conf=0.25, iou=0.7, max_det=300)
    assert len(rows) == 300 and rows[0, 4] == pytest.approx(0.3 + 0.6 * 399 / 400)
    assert np.all(np.diff(rows[:, 4]) <= 0)


def test_raw_decode_of_pose_keeps_keypoints_as_extra():
    kp = np.arange(51, dtype=np.float32)
    out = np.concatenate([np.array([[100, 100, 20, 40, 0.8]], np.float32), kp[None]], axis=1).T[
        None
    ]  # [1, 56, 1]
    rows = decode_raw(out, conf=0.25, iou=0.7, nc=1)
    assert rows.shape == (1, 6 + 51)
    np.testing.assert_allclose(rows[0, 6:], kp)


def test_end2end_decode_is_threshold_and_max_det_only():
    out = np.array(
        [[[0, 0, 10, 10, 0.9, 3], [0, 0, 10, 10, 0.8, 3], [5, 5, 9, 9, 0.2, 1]]], np.float32
    )
    rows = decode_end2end(out, conf=0.25)
    assert rows[:, 4].tolist() == pytest.approx([0.9, 0.8])  # no NMS: the model already did it
    assert len(decode_end2end(out, conf=0.25, max_det=1)) == 1


def test_yolox_decode_one_cell():
    grid, stride = yolox_grid((64, 64))
    assert len(grid) == 8 * 8 + 4 * 4 + 2 * 2
    pred = np.zeros((1, len(grid), 5 + 2), np.float32)
    i = 8 * 8 + 4 * 3 + 1  # stride 16, cell x=1, y=3
    pred[0, i] = [0.5, 0.5, np.log(2), 0, 0.9, 0.1, 0.8]
    rows = decode_yolox(pred, input_size=(64, 64), conf=0.25)
    assert rows[:, 5].tolist() == [1]
    np.testing.assert_allclose(rows[0, :5], [24 - 16, 56 - 8, 24 + 16, 56 + 8, 0.72], rtol=1e-5)


def test_nms_suppresses_only_above_the_threshold():
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 5]])  # IoU 0.5
    assert nms(boxes, np.array([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert nms(boxes, np.array([0.9, 0.8]), 0.49).tolist() == [0]


def test_detections_check_shapes_and_filter():
    d = Detections(np.zeros((2, 4)), [0.5, 0.9], [0, 7], ("a", "b"))
    assert d.labels() == ["a", "class7"]
    assert d.filter([1]).score.tolist() == pytest.approx([0.9])
    assert len(Detections.empty(("a",))) == 0
    with pytest.raises(ValueError, match="score 1"):
        Detections(np.zeros((2, 4)), [0.5], [0, 1], ("a",))
    with pytest.raises(ValueError, match="keypoints"):
        Detections(np.zeros((1, 4)), [0.5], [0], ("a",), np.zeros((1, 17, 2)))


# ---- the whole detector path on tiny graphs -----------------------------------


def test_end2end_model_through_the_detector(tmp_path):
    pytest.importorskip("onnx")
    out = np.zeros((1, 300, 6), np.float32)
    out[0, 0] = [10, 20, 30, 40, 0.9, 1]  # input pixels of a 64x64 input
    out[0, 1] = [0, 0, 64, 64, 0.1, 0]
    path = constant_model(
        tmp_path / "e2e.onnx",
        out,
        metadata={
            "names": {0: "person", 1: "bottle"},
            "task": "detect",
            "end2end": True,
            "imgsz": [64, 64],
        },
    )
    det = YoloDetector(path)
    assert det.spec.output_format == "end2end" and det.names == ("person", "bottle")
    d = det.detect(np.zeros((128, 256, 3), np.uint8))  # gain 0.25, pad top 16
    assert d.labels() == ["bottle"]
    np.testing.assert_allclose(d.xyxy, [[40, 16, 120, 96]], atol=1e-4)


def test_pose_model_through_the_detector(tmp_path):
    pytest.importorskip("onnx")
    out = np.zeros((1, 56, 5), np.float32)
    out[0, :5, 0] = [32, 32, 20, 20, 0.8]
    kps = np.tile(np.array([32, 40, 0.3], np.float32), (17, 1))  # unsure, except:
    kps[9] = [20, 40, 0.95]  # left wrist
    out[0, 5:, 0] = kps.ravel()
    path = constant_model(
        tmp_path / "pose.onnx",
        out,
        metadata={"names": {0: "person"}, "task": "pose", "kpt_shape": [17, 3], "imgsz": [64, 64]},
    )
    det = YoloDetector(path)
    assert det.task == "pose" and det.spec.output_format == "pose_raw"
    d = det.detect(np.zeros((64, 128, 3), np.uint8))  # gain 0.5, pad top 16
    assert d.keypoints.shape == (1, 17, 3)
    np.testing.assert_allclose(d.keypoints[0, 9], [40, 48, 0.95], atol=1e-4)
    np.testing.assert_allclose(d.keypoints[0, 0], [64, 48, 0.3], atol=1e-4)
    np.testing.assert_allclose(d.xyxy, [[44, 12, 84, 52]], atol=1e-4)

    from edge_app.perception.hands import PoseWrists

    [hand] = PoseWrists(path, detector=det).detect(np.zeros((64, 128, 3), np.uint8))
    np.testing.assert_allclose(hand.wrist, [40, 48], atol=1e-4)


def test_real_model_finds_the_bottles():
    det = YoloDetector(YOLO11)
    d = det.detect(read_image("retail/sample-bottle.jpg"))
    assert d.labels() == ["bottle"] * 4
    assert det.input_size == (320, 320) and det.task == "detect" and len(det.names) == 80


def test_detector_accepts_only_bgr_frames():
    det = YoloDetector(YOLO11)
    with pytest.raises(ValueError, match="HxWx3"):
        det.detect(cv2.cvtColor(read_image("bus.jpg"), cv2.COLOR_BGR2GRAY))


# ---------------------------------------------------------------- regions (dynamic-input models)


def test_a_dynamic_model_letterboxes_to_the_smallest_stride_multiple():
    det = YoloDetector(ROOT / "models/yolo11n-coco-fp32dq-320.onnx")
    assert det.dynamic
    assert det.letterbox_for((640, 480)).input_size == (320, 256)
    fixed = YoloDetector(ROOT / "models/yolo11n-coco-int8-320.onnx")
    assert not fixed.dynamic and fixed.letterbox_for((640, 480)).input_size == (320, 320)
    assert fixed.region_rect((640, 480), (0, 0, 10, 10)) is None


def test_a_region_sees_what_the_whole_frame_sees_there():
    import cv2

    det = YoloDetector(ROOT / "models/yolo11n-coco-fp32dq-320.onnx")
    img = cv2.imread(str(ROOT / "tests/assets/bus.jpg"))
    whole = det.detect(img)
    best = int(np.argmax(whole.score))
    box = whole.xyxy[best]
    rect = det.region_rect((img.shape[1], img.shape[0]), box, max_area=1.0)
    x0, y0, x1, y1 = rect
    assert (x1 - x0) % 32 == 0 and (y1 - y0) % 32 == 0
    ext = det.rect_to_image((img.shape[1], img.shape[0]), rect)
    assert ext[0] <= box[0] and ext[1] <= box[1] and ext[2] >= box[2] and ext[3] >= box[3]
    x, lb = det.preprocess(img, rect)
    assert x.shape[2:] == (y1 - y0, x1 - x0)
    part = det.decode(det.infer(x), lb)
    same = part.filter(part.class_id == whole.class_id[best])
    assert len(same)
    iou = box_iou(box[None], same.xyxy).max()
    assert iou > 0.8, iou  # the same object, mapped back to frame pixels


def test_region_rect_grows_to_the_minimum_and_stays_inside():
    det = YoloDetector(ROOT / "models/yolo11n-coco-fp32dq-320.onnx")
    rect = det.region_rect((640, 480), (630, 470, 640, 480), pad=8, min_side=96)
    x0, y0, x1, y1 = rect
    assert (x1 - x0, y1 - y0) == (96, 96) and x1 <= 320 and y1 <= 256
    assert (
        det.region_rect((640, 480), (0, 0, 640, 480)) is None
    )  # most of the frame: detect it whole
