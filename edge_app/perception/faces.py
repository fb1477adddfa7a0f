"""Faces to blur in evidence clips: MediaPipe BlazeFace (ONNX) or OpenCV's Haar cascade.

Only the evidence writer runs a face detector, on the ~50 frames of a clip
it writes, never the lane thread on every frame: privacy is needed where a
frame leaves the lane, and nowhere else.

* :class:`BlazeFace`: MediaPipe's short-range face detector (Apache-2.0),
  converted once to ONNX (``scripts/convert_blazeface.py``) and run by ONNX
  Runtime on one thread. It shares the BlazePalm input (a zero-padded square
  at 128², RGB in [-1, 1]), anchors and decode (``hands.decode_blaze``). At
  128² it finds faces down to about a tenth of the square's side, so it also
  looks at overlapping tiles of ``tile`` pixels: a face a 640x480 frame
  shows at 40 px is found in a tile (docs/MODELS.md has the measurements).
* :class:`HaarFaces`: OpenCV's frontal-face cascade (BSD), where the OpenCV
  build still has ``CascadeClassifier`` and ``cv2.data`` (the 4.x wheels; 5.x
  dropped both). Frontal only, and more false boxes than BlazeFace.

Both return boxes ``(N, 5)``: x1, y1, x2, y2, score in image pixels.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from edge_app.perception.boxes import box_iou
from edge_app.perception.hands import PALM_SIZE, decode_blaze, palm_anchors, palm_input
from edge_app.perception.models import LoadedModel, ModelError, default_manifest_path, open_model

#: the shipped BlazeFace file (models/manifest.yaml)
BLAZEFACE_FILE = "mediapipe-face-detection-short-128.onnx"
HAAR_FILE = "haarcascade_frontalface_default.xml"
NO_FACES = np.zeros((0, 5), np.float32)


class FaceDetector(Protocol):
    name: str

    def detect(self, image_bgr: np.ndarray) -> np.ndarray: ...


def default_blazeface_path() -> Path:
    return default_manifest_path().parent / BLAZEFACE_FILE


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float = 0.3) -> np.ndarray:
    """MediaPipe's face NMS: each kept box is the score-weighted mean of the boxes it overlaps.

    Rows ``(x1, y1, x2, y2, score)``, best first; the score is the best of its group.
    Averaging steadies the box between frames and merges one face seen in two tiles.

    >>> b = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60]], np.float32)
    >>> weighted_nms(b, np.array([0.9, 0.9, 0.8], np.float32)).astype(float).round(1).tolist()
    [[1.0, 0.0, 11.0, 10.0, 0.9], [50.0, 50.0, 60.0, 60.0, 0.8]]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    boxes, scores = boxes[order], np.asarray(scores, np.float32)[order]
    free = np.ones(len(boxes), bool)
    out = []
    for i in range(len(boxes)):
        if not free[i]:
            continue
        group = free & (box_iou(boxes[i : i + 1], boxes)[0] > iou)
        group[i] = True
        free &= ~group
        w = scores[group, None]
        out.append([*((boxes[group] * w).sum(axis=0) / w.sum()), scores[i]])
    return np.array(out, np.float32).reshape(-1, 5)


def tile_rects(w: int, h: int, side: int, overlap: float = 0.25) -> list[tuple[int, int, int, int]]:
    """Squares of ``side`` px covering a ``w``×``h`` frame, neighbours overlapping by ``overlap``.

    >>> [r[:2] for r in tile_rects(640, 480, 320)]  # top-left corners of 320² squares
    [(0, 0), (160, 0), (320, 0), (0, 160), (160, 160), (320, 160)]
    >>> tile_rects(640, 480, 640)
    []
    """
    if side <= 0 or side >= max(w, h):
        return []

    def starts(length: int) -> list[int]:
        if length <= side:
            return [0]
        n = math.ceil((length - side) / (side * (1 - overlap))) + 1
        return [round(i * (length - side) / (n - 1)) for i in range(n)]

    return [(x, y, min(x + side, w), min(y + side, h)) for y in starts(h) for x in starts(w)]


class BlazeFace:
    """BlazeFace short range on the whole frame, then on overlapping ``tile``² squares."""

    name = "blazeface"

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        conf: float = 0.75,
        iou: float = 0.3,
        tile: int = 320,
        threads: int = 1,
    ):
        self.model: LoadedModel = open_model(path or default_blazeface_path(), threads=threads)
        if self.model.spec.output_format != "mediapipe_face":
            raise ModelError(
                f"{self.model.path}: expected a mediapipe_face model, the manifest says "
                f"{self.model.spec.output_format}"
            )
        self.conf, self.iou, self.tile = conf, iou, tile
        self._out = {n: i for i, n in enumerate(self.model.output_names)}
        self._anchors = palm_anchors()

    def _candidates(self, image_bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every anchor's box over ``conf`` (no NMS yet: ``detect`` merges them all at once)."""
        x, side, pad = palm_input(image_bgr)
        outs = self.model.run(x)
        scores, boxes, _ = decode_blaze(
            outs[self._out["regressors"]],
            outs[self._out["classificators"]],
            side=side,
            pad=pad,
            conf=self.conf,
            iou=1.0,
            anchors=self._anchors,
            size=PALM_SIZE,
        )
        return scores, boxes

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        h, w = image_bgr.shape[:2]
        found = [self._candidates(image_bgr)]
        for x0, y0, x1, y1 in tile_rects(w, h, self.tile):
            scores, boxes = self._candidates(image_bgr[y0:y1, x0:x1])
            found.append((scores, boxes + np.array([x0, y0, x0, y0], np.float32)))
        scores = np.concatenate([s for s, _ in found])
        if not len(scores):
            return NO_FACES
        return weighted_nms(np.concatenate([b for _, b in found]), scores, self.iou)


class HaarFaces:
    """OpenCV's frontal-face Haar cascade (``cv2.data.haarcascades``)."""

    name = "haar"

    def __init__(self, path: str | Path | None = None, *, min_size: int = 24):
        if not hasattr(cv2, "CascadeClassifier"):
            raise ModelError(
                f"OpenCV {cv2.__version__} has no CascadeClassifier (OpenCV 5 dropped the Haar "
                "cascades): use faces: blazeface"
            )
        if path is None:
            folder = getattr(getattr(cv2, "data", None), "haarcascades", "")
            path = Path(folder) / HAAR_FILE
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise ModelError(f"{path}: no Haar cascade could be read")
        self.min_size = min_size

    def detect(self, image_bgr: np.ndarray) -> np.ndarray:
        grey = cv2.equalizeHist(cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY))
        rects = self.cascade.detectMultiScale(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_size, self.min_size)
        )
        if len(rects) == 0:
            return NO_FACES
        r = np.asarray(rects, np.float32).reshape(-1, 4)
        return np.concatenate(
            [r[:, :2], r[:, :2] + r[:, 2:], np.ones((len(r), 1), np.float32)], axis=1
        )


def make_face_detector(kind: str, path: str | Path | None = None) -> FaceDetector | None:
    """The detector ``evidence.faces`` names (None for ``none``); ModelError when it cannot run."""
    if kind == "none":
        return None
    if kind == "blazeface":
        return BlazeFace(path)
    if kind == "haar":
        return HaarFaces(path)
    raise ModelError(f"evidence.faces: unknown face detector {kind!r}")


def grow(boxes: np.ndarray, margin: float, w: int, h: int) -> np.ndarray:
    """Boxes grown by ``margin`` × their size on every side (hair, ears, chin), clipped to the frame.

    >>> grow(np.array([[10, 10, 30, 50, 0.9]]), 0.25, 100, 100).tolist()
    [[5.0, 0.0, 35.0, 60.0]]
    """
    b = np.asarray(boxes, np.float32).reshape(-1, np.shape(boxes)[-1] if len(boxes) else 4)[:, :4]
    d = np.concatenate([b[:, 2:] - b[:, :2]] * 2, axis=1) * margin
    out = b + d * np.array([-1, -1, 1, 1], np.float32)
    return np.clip(out, 0, [w, h, w, h]).astype(np.float32)


__all__ = [
    "BlazeFace",
    "FaceDetector",
    "HaarFaces",
    "default_blazeface_path",
    "grow",
    "make_face_detector",
    "tile_rects",
    "weighted_nms",
]
