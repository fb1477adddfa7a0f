"""Hand points from either backend; the rest of the pipeline does not care which.

* :class:`MediaPipeHands`: BlazePalm palm detector (128) → rotated hand ROI
  (2.6 × palm, shifted towards the fingers) → hand landmark model (224) → 21
  points mapped back through the inverse affine; the landmark model's
  presence flag (> 0.5) rejects palm false positives (bottle necks, fruit).
* :class:`PoseWrists`: a YOLO-pose model; COCO keypoints 9/10 are the wrists,
  7/8 the elbows (used to size a hand box beyond the wrist).

Both return :class:`HandPoints` in image pixels; :func:`hands_to_detections`
turns them into ``Detections`` (class "hand") for the hand ``Tracker``.
The palm decode is pure numpy (:func:`palm_anchors`, :func:`decode_palms`,
:func:`hand_roi`) so it is tested without a session.

>>> palm_anchors().shape
(896, 2)
"""

from __future__ import annotations

import abc
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_app.perception.boxes import nms
from edge_app.perception.detections import Detections
from edge_app.perception.models import LoadedModel, ModelError, open_model
from edge_app.perception.yolo import YoloDetector

log = logging.getLogger(__name__)

WRIST = 0
FINGERTIPS = {"thumb": 4, "index": 8, "middle": 12, "ring": 16, "pinky": 20}
COCO_LEFT_ELBOW, COCO_RIGHT_ELBOW, COCO_LEFT_WRIST, COCO_RIGHT_WRIST = 7, 8, 9, 10


@dataclass
class HandPoints:
    """One hand in image pixels."""

    points: np.ndarray  # (K ≤ 21, 3) x, y, conf; MediaPipe order (0 = wrist) or just the wrist
    wrist: np.ndarray  # (2,) x, y
    score: float
    box: np.ndarray  # (4,) xyxy around the hand
    source: str = ""  # "mediapipe" | "yolo_pose"
    handedness: float | None = None  # MediaPipe's flag; unvalidated on our photos

    @property
    def size(self) -> float:
        """Longest side of the hand box (the scale for tolerances)."""
        return float(max(self.box[2] - self.box[0], self.box[3] - self.box[1]))


class HandBackend(abc.ABC):
    """Frame in, hands out."""

    name: str = ""

    @abc.abstractmethod
    def detect(self, frame_bgr: np.ndarray) -> list[HandPoints]: ...


def hands_to_detections(hands: list[HandPoints]) -> Detections:
    """Hands as Detections of class "hand", with their points as keypoints (for the tracker)."""
    if not hands:
        return Detections.empty(("hand",))
    k = max(len(h.points) for h in hands)
    kp = np.zeros((len(hands), k, 3), np.float32)
    for i, h in enumerate(hands):
        kp[i, : len(h.points)] = h.points
    return Detections(
        np.array([h.box for h in hands], np.float32),
        np.array([h.score for h in hands], np.float32),
        np.zeros(len(hands), np.int32),
        ("hand",),
        kp,
    )


# --------------------------------------------------------------------------
# MediaPipe: pure parts
# --------------------------------------------------------------------------

PALM_SIZE = 128
LANDMARK_SIZE = 224


def palm_anchors() -> np.ndarray:
    """896 anchor centres (normalised): 16×16 cells × 2 (stride 8), then 8×8 × 6 (stride 16).

    BlazePalm and BlazeFace short range share this SSD layout (128² input, strides
    8, 16, 16, 16, two anchors per layer and cell), so ``faces.py`` uses it too.
    """
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.mgrid[0:grid, 0:grid]
        centres = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


@dataclass(frozen=True)
class Palm:
    """A palm in image pixels: box (palm only), 7 keypoints (0 wrist, 2 middle-finger MCP)."""

    score: float
    box: np.ndarray  # (4,) xyxy
    keypoints: np.ndarray  # (7, 2)


def palm_input(image_bgr: np.ndarray) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Pad to a centred square (zeros), resize to 128, RGB in [-1, 1].

    Returns (tensor, side, (pad_x, pad_y)).
    """
    h, w = image_bgr.shape[:2]
    side = max(h, w)
    pad_x, pad_y = (side - w) // 2, (side - h) // 2
    square = cv2.copyMakeBorder(
        image_bgr, pad_y, side - h - pad_y, pad_x, side - w - pad_x, cv2.BORDER_CONSTANT, value=0
    )
    img = cv2.resize(square, (PALM_SIZE, PALM_SIZE), interpolation=cv2.INTER_AREA)[..., ::-1]
    x = img.transpose(2, 0, 1)[None].astype(np.float32) / 127.5 - 1.0
    return np.ascontiguousarray(x), float(side), (pad_x, pad_y)


def decode_blaze(
    regressors: np.ndarray,
    classificators: np.ndarray,
    *,
    side: float,
    pad: tuple[int, int],
    conf: float = 0.5,
    iou: float = 0.3,
    anchors: np.ndarray | None = None,
    size: int = PALM_SIZE,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """MediaPipe SSD outputs (BlazePalm, BlazeFace) → (scores, xyxy boxes, keypoints) in image px.

    Each regressor row is a box (cx, cy, w, h, in input pixels from its
    anchor) then K keypoints (x, y): 18 values for a palm (7 points), 16 for a
    face (6). Sigmoid > ``conf``, degenerate boxes dropped, NMS (none for ``iou`` ≥ 1),
    best first.
    """
    logits = np.asarray(classificators, np.float32).reshape(-1)
    reg = np.asarray(regressors, np.float32).reshape(len(logits), -1)
    k = (reg.shape[1] - 4) // 2
    anchors = palm_anchors() if anchors is None else anchors
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -80, 80)))
    keep = (scores > conf) & (reg[:, 2] > 0) & (reg[:, 3] > 0)
    if not keep.any():
        return (
            np.zeros(0, np.float32),
            np.zeros((0, 4), np.float32),
            np.zeros((0, k, 2), np.float32),
        )
    reg, scores, anc = reg[keep], scores[keep], anchors[keep]
    cx = anc[:, 0] + reg[:, 0] / size
    cy = anc[:, 1] + reg[:, 1] / size
    bw, bh = reg[:, 2] / size, reg[:, 3] / size
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1) * side
    boxes -= np.array([pad[0], pad[1], pad[0], pad[1]], np.float32)
    kps = (anc[:, None, :] + reg[:, 4 : 4 + 2 * k].reshape(-1, k, 2) / size) * side - np.array(
        pad, np.float32
    )
    order = nms(boxes, scores, iou) if iou < 1 else np.argsort(-scores, kind="stable")
    return scores[order], boxes[order], kps[order]


def decode_palms(
    regressors: np.ndarray,
    classificators: np.ndarray,
    *,
    side: float,
    pad: tuple[int, int],
    conf: float = 0.5,
    iou: float = 0.3,
    anchors: np.ndarray | None = None,
) -> list[Palm]:
    """BlazePalm outputs → palms in image pixels (sigmoid > conf, no degenerate boxes, NMS)."""
    scores, boxes, kps = decode_blaze(
        np.asarray(regressors, np.float32).reshape(-1, 18),
        classificators,
        side=side,
        pad=pad,
        conf=conf,
        iou=iou,
        anchors=anchors,
    )
    return [Palm(float(s), b, k) for s, b, k in zip(scores, boxes, kps, strict=True)]


def hand_roi(
    palm: Palm, *, scale: float = 2.6, shift: float = 0.5, size: int = LANDMARK_SIZE
) -> np.ndarray:
    """2×3 affine from the image to the upright ``size``² hand crop (MediaPipe's RectTransformation).

    Square of side ``scale`` × the palm box's longer side, centre moved
    ``shift`` × that side along wrist → middle MCP, rotated so that direction
    points up.
    """
    x1, y1, x2, y2 = palm.box
    box_side = max(x2 - x1, y2 - y1)
    v = palm.keypoints[2] - palm.keypoints[0]
    norm = float(np.hypot(*v)) or 1.0
    u = v / norm
    cx = (x1 + x2) / 2 + shift * box_side * u[0]
    cy = (y1 + y2) / 2 + shift * box_side * u[1]
    angle = math.degrees(math.atan2(v[1], v[0])) + 90.0
    m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, size / (scale * box_side))
    m[0, 2] += size / 2 - cx
    m[1, 2] += size / 2 - cy
    return m


def landmarks_to_image(landmarks: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """(21, ≥2) crop-pixel landmarks → image pixels through the inverse of the crop affine."""
    inv = cv2.invertAffineTransform(affine)
    xy = np.asarray(landmarks, np.float64)[:, :2]
    return (xy @ inv[:, :2].T + inv[:, 2]).astype(np.float32)


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------


class MediaPipeHands(HandBackend):
    """Palm detector + hand landmark model (MediaPipe 2020 hand tracking, as ONNX)."""

    name = "mediapipe"

    def __init__(
        self,
        palm_path: str | Path,
        landmark_path: str | Path,
        *,
        palm_conf: float = 0.5,
        presence: float = 0.5,
        max_hands: int = 4,
        provider: str = "cpu",
        threads: int = 0,
    ):
        self.palm: LoadedModel = open_model(palm_path, provider=provider, threads=threads)
        self.landmark: LoadedModel = open_model(landmark_path, provider=provider, threads=threads)
        for model, fmt in ((self.palm, "mediapipe_palm"), (self.landmark, "mediapipe_landmark")):
            if model.spec.output_format != fmt:
                raise ModelError(
                    f"{model.path}: expected a {fmt} model, the manifest says "
                    f"{model.spec.output_format}"
                )
        self.palm_conf, self.presence, self.max_hands = palm_conf, presence, max_hands
        self._palm_out = {n: i for i, n in enumerate(self.palm.output_names)}
        self._lm_out = {n: i for i, n in enumerate(self.landmark.output_names)}

    def palms(self, frame_bgr: np.ndarray) -> list[Palm]:
        x, side, pad = palm_input(frame_bgr)
        outs = self.palm.run(x)
        return decode_palms(
            outs[self._palm_out["regressors"]],
            outs[self._palm_out["classificators"]],
            side=side,
            pad=pad,
            conf=self.palm_conf,
        )

    def landmarks(self, crop_bgr: np.ndarray) -> tuple[np.ndarray, float, float]:
        """(21, 3) crop-pixel landmarks, presence, handedness of an upright 224² hand crop."""
        if crop_bgr.shape[:2] != (LANDMARK_SIZE, LANDMARK_SIZE):
            crop_bgr = cv2.resize(
                crop_bgr, (LANDMARK_SIZE, LANDMARK_SIZE), interpolation=cv2.INTER_LINEAR
            )
        x = (
            np.ascontiguousarray(crop_bgr[..., ::-1].transpose(2, 0, 1)[None], dtype=np.float32)
            / 255.0
        )
        outs = self.landmark.run(x)
        lm = outs[self._lm_out["Identity"]].reshape(21, 3)
        return (
            lm,
            float(outs[self._lm_out["Identity_1"]].ravel()[0]),
            float(outs[self._lm_out["Identity_2"]].ravel()[0]),
        )

    def detect(self, frame_bgr: np.ndarray) -> list[HandPoints]:
        hands: list[HandPoints] = []
        for palm in self.palms(frame_bgr)[: self.max_hands * 2]:
            m = hand_roi(palm)
            crop = cv2.warpAffine(
                frame_bgr,
                m,
                (LANDMARK_SIZE, LANDMARK_SIZE),
                flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=(0, 0, 0),
            )
            lm, presence, handedness = self.landmarks(crop)
            if presence <= self.presence:
                continue
            xy = landmarks_to_image(lm, m)
            pts = np.concatenate([xy, np.full((21, 1), presence, np.float32)], axis=1)
            box = np.array(
                [xy[:, 0].min(), xy[:, 1].min(), xy[:, 0].max(), xy[:, 1].max()], np.float32
            )
            hands.append(HandPoints(pts, xy[WRIST].copy(), palm.score, box, self.name, handedness))
        return dedupe_hands(hands)[: self.max_hands]


def dedupe_hands(hands: list[HandPoints], iou: float = 0.5) -> list[HandPoints]:
    """Two palm boxes on one hand give two landmark sets on the same fingers: keep the best."""
    if len(hands) < 2:
        return hands
    boxes = np.array([h.box for h in hands])
    keep = nms(boxes, np.array([h.score for h in hands]), iou)
    return [hands[i] for i in keep]


class PoseWrists(HandBackend):
    """Wrists of a YOLO-pose model (COCO 17 keypoints) as one-point hands."""

    name = "yolo_pose"

    def __init__(
        self,
        pose_path: str | Path,
        *,
        conf: float = 0.25,
        kpt_conf: float = 0.5,
        provider: str = "cpu",
        threads: int = 0,
        detector: YoloDetector | None = None,
    ):
        self.detector = detector or YoloDetector(
            pose_path, conf=conf, provider=provider, threads=threads
        )
        if self.detector.task != "pose" or (self.detector.spec.keypoints or 0) < 11:
            raise ModelError(f"{pose_path}: a pose model with COCO keypoints is needed for wrists")
        self.kpt_conf = kpt_conf

    def detect(self, frame_bgr: np.ndarray) -> list[HandPoints]:
        return wrists_from_pose(self.detector.detect(frame_bgr), kpt_conf=self.kpt_conf)


def wrists_from_pose(people: Detections, *, kpt_conf: float = 0.5) -> list[HandPoints]:
    """COCO wrists (9, 10) with a box one forearm-third wide, reaching past the wrist.

    Pure: tested on synthetic keypoints.
    """
    hands: list[HandPoints] = []
    if people.keypoints is None:
        return hands
    for i in range(len(people)):
        kp = people.keypoints[i]
        px1, py1, px2, py2 = people.xyxy[i]
        for wrist_i, elbow_i in (
            (COCO_LEFT_WRIST, COCO_LEFT_ELBOW),
            (COCO_RIGHT_WRIST, COCO_RIGHT_ELBOW),
        ):
            wx, wy, wc = kp[wrist_i]
            if wc < kpt_conf:
                continue
            ex, ey, ec = kp[elbow_i]
            if ec >= kpt_conf and (ex, ey) != (wx, wy):
                forearm = np.array([wx - ex, wy - ey], np.float32)
            else:
                forearm = np.array(
                    [0.0, 0.12 * (py2 - py1)], np.float32
                )  # unknown: assume hanging down
            half = 0.35 * float(np.hypot(*forearm))
            c = np.array([wx, wy], np.float32) + 0.4 * forearm  # the hand lies beyond the wrist
            box = np.array([c[0] - half, c[1] - half, c[0] + half, c[1] + half], np.float32)
            pts = np.array([[wx, wy, wc]], np.float32)
            hands.append(
                HandPoints(pts, np.array([wx, wy], np.float32), float(wc), box, PoseWrists.name)
            )
    return hands


def make_hand_backend(
    hands_cfg, resolve: Callable[[str], Path] = Path, *, provider: str = "cpu", threads: int = 0
):
    """The backend a lane's ``models.hands`` asks for, or None for ``backend: none``."""
    if hands_cfg.backend == "none":
        return None
    if hands_cfg.backend == "mediapipe":
        if not hands_cfg.palm_path or not hands_cfg.landmark_path:
            raise ModelError(
                "models.hands: the mediapipe backend needs palm_path and landmark_path"
            )
        return MediaPipeHands(
            resolve(hands_cfg.palm_path),
            resolve(hands_cfg.landmark_path),
            palm_conf=hands_cfg.conf,
            provider=provider,
            threads=threads,
        )
    if hands_cfg.backend == "yolo_pose":
        if not hands_cfg.pose_path:
            raise ModelError("models.hands: the yolo_pose backend needs pose_path")
        return PoseWrists(
            resolve(hands_cfg.pose_path),
            kpt_conf=hands_cfg.conf,
            provider=provider,
            threads=threads,
        )
    raise ModelError(f"models.hands: unknown backend {hands_cfg.backend!r}")


__all__ = [
    "HandPoints",
    "HandBackend",
    "MediaPipeHands",
    "PoseWrists",
    "Palm",
    "make_hand_backend",
    "hands_to_detections",
    "wrists_from_pose",
    "palm_anchors",
    "palm_input",
    "decode_palms",
    "decode_blaze",
    "hand_roi",
    "landmarks_to_image",
    "dedupe_hands",
    "FINGERTIPS",
    "WRIST",
]
