"""YOLO on ONNX Runtime, decoded exactly as Ultralytics decodes it.

The decode is pure numpy and separate from the session, so it is tested on
synthetic tensors (end-to-end and pose included) and against Ultralytics'
own predictions on real images (``tests/perception/test_yolo_vs_ultralytics.py``).
What "exactly" means here:

* letterbox: ``r = min(H/h, W/w)``, resize to ``round(w·r) × round(h·r)``
  bilinear, pad centred with grey 114, split as ``round(d/2 ∓ 0.1)``;
* raw output ``[1, 4+nc(+extra), N]``: best class only, ``score > conf``,
  per-class NMS (boxes offset by ``class × 7680``), at most 30000 boxes into
  NMS and ``max_det = 300`` out;
* end-to-end output ``[1, K, 6(+extra)]``: ``score > conf``, first ``max_det``;
* boxes back to the image with per-axis gains, clipped to the image.

>>> dets = Detections(np.array([[0, 0, 10, 10]], np.float32), np.array([0.9], np.float32),
...                   np.array([1], np.int32), ("person", "bottle"))
>>> dets.labels(), len(dets.filter(dets.score > 0.95))
(['bottle'], 0)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_app.perception.models import LoadedModel, ModelError, ModelSpec, open_model

log = logging.getLogger(__name__)

MAX_DET = 300
MAX_NMS = 30000
MAX_WH = 7680  # Ultralytics' per-class box offset for class-aware NMS
GREY = 114
#: the coarsest YOLO stride: a dynamic input's sides are multiples of it
STRIDE = 32


# --------------------------------------------------------------------------
# The vocabulary: supervision-style parallel arrays
# --------------------------------------------------------------------------


@dataclass
class Detections:
    """Detections of one frame in original-image pixels, one row per object."""

    xyxy: np.ndarray  # (N, 4) float32
    score: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int32
    names: tuple[str, ...]  # class names of the model
    keypoints: np.ndarray | None = None  # (N, K, 3) x, y, conf (pose models, hand points)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        self.score = np.asarray(self.score, np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, np.int32).reshape(-1)
        self.names = tuple(self.names)
        n = len(self.xyxy)
        if len(self.score) != n or len(self.class_id) != n:
            raise ValueError(f"xyxy has {n} rows, score {len(self.score)}, class_id {len(self.class_id)}")
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, np.float32)
            if self.keypoints.ndim != 3 or len(self.keypoints) != n or self.keypoints.shape[2] != 3:
                raise ValueError(f"keypoints must be (N={n}, K, 3), got {self.keypoints.shape}")

    @classmethod
    def empty(cls, names: Sequence[str] = (), keypoints: int = 0) -> Detections:
        kp = np.zeros((0, keypoints, 3), np.float32) if keypoints else None
        return cls(
            np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32), tuple(names), kp
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def labels(self) -> list[str]:
        """Class name of every row (``"class<N>"`` when the model has no name for it)."""
        return [self.names[c] if 0 <= c < len(self.names) else f"class{c}" for c in self.class_id.tolist()]

    def filter(self, mask: np.ndarray | Sequence[bool] | Sequence[int]) -> Detections:
        """Rows selected by a boolean mask or an index array, as a new Detections."""
        idx = np.asarray(mask)
        if idx.dtype != bool:
            idx = idx.astype(np.int64).reshape(-1)
        kp = None if self.keypoints is None else self.keypoints[idx]
        return Detections(self.xyxy[idx], self.score[idx], self.class_id[idx], self.names, kp)

    def merge(self, other: Detections) -> Detections:
        """These rows, then ``other``'s (same model, same names)."""
        if not len(other):
            return self
        if not len(self):
            return other
        kp = None
        if self.keypoints is not None and other.keypoints is not None:
            kp = np.concatenate([self.keypoints, other.keypoints])
        return Detections(
            np.concatenate([self.xyxy, other.xyxy]),
            np.concatenate([self.score, other.score]),
            np.concatenate([self.class_id, other.class_id]),
            self.names,
            kp,
        )

    def outside(self, region: Sequence[float]) -> Detections:
        """Rows whose boxes do not touch ``region`` (x0, y0, x1, y1)."""
        return self.filter(boxes_outside(self.xyxy, region))

    @property
    def centers(self) -> np.ndarray:
        return np.stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2], axis=1
        )

    def to_json(self) -> list[dict]:
        """The ``edge-app predict --json`` rows: class, score, xyxy (and keypoints)."""
        rows = []
        for i, label in enumerate(self.labels()):
            row = {
                "class": label,
                "score": round(float(self.score[i]), 4),
                "xyxy": [round(float(v), 2) for v in self.xyxy[i]],
            }
            if self.keypoints is not None:
                row["keypoints"] = [[round(float(v), 2) for v in kp] for kp in self.keypoints[i]]
            rows.append(row)
        return rows

    @classmethod
    def from_onnx_yolo(
        cls,
        output: np.ndarray,
        *,
        spec: ModelSpec,
        letterbox: Letterbox,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = MAX_DET,
        agnostic: bool = False,
    ) -> Detections:
        """Decode one Ultralytics/YOLOX output tensor into image-pixel detections."""
        nc, k = len(spec.names), spec.keypoints
        fmt = spec.output_format
        if fmt in ("raw", "pose_raw"):
            rows = decode_raw(output, conf=conf, iou=iou, nc=nc, max_det=max_det, agnostic=agnostic)
        elif fmt in ("end2end", "pose_end2end"):
            rows = decode_end2end(output, conf=conf, max_det=max_det)
        elif fmt == "yolox":
            rows = decode_yolox(output, input_size=spec.input_size, conf=conf, iou=iou, max_det=max_det)
        else:
            raise ModelError(f"model {spec.name!r} has format {fmt!r}, which is not a YOLO detector output")
        boxes = letterbox.boxes_to_image(rows[:, :4])
        kp = None
        if fmt in ("pose_raw", "pose_end2end"):
            if rows.shape[1] < 6 + 3 * k:
                raise ModelError(
                    f"model {spec.name!r}: {rows.shape[1] - 6} extra channels, {k} keypoints need {3 * k}"
                )
            kp = letterbox.points_to_image(rows[:, 6 : 6 + 3 * k].reshape(-1, k, 3))
        return cls(boxes, rows[:, 4], rows[:, 5].astype(np.int32), spec.names, kp)


# --------------------------------------------------------------------------
# Letterbox (Ultralytics LetterBox(center=True)) and its inverse
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Letterbox:
    """How an image was placed into the network input, to map boxes back."""

    image_size: tuple[int, int]  # (width, height) of the original image
    input_size: tuple[int, int]  # (width, height) of the network input
    new_size: tuple[int, int]  # (width, height) of the resized image inside the input
    left: int
    top: int

    @classmethod
    def plan(
        cls,
        image_size: tuple[int, int],
        input_size: tuple[int, int],
        center: bool = True,
        floor: bool = False,
    ) -> Letterbox:
        """Ultralytics' LetterBox.get_params (scaleup on, auto off: static ONNX input).

        ``center=False, floor=True`` is YOLOX's ``preproc`` (top-left, ``int(w·r)``).
        """
        w0, h0 = image_size
        w, h = input_size
        r = min(h / h0, w / w0)
        rnd = int if floor else round
        new_w, new_h = max(rnd(w0 * r), 1), max(rnd(h0 * r), 1)
        dw, dh = w - new_w, h - new_h
        if center:
            left, top = round(dw / 2 - 0.1), round(dh / 2 - 0.1)
        else:
            left, top = 0, 0
        return cls((w0, h0), (w, h), (new_w, new_h), left, top)

    def apply(self, image: np.ndarray, fill: int = GREY) -> np.ndarray:
        """Resize (bilinear) and pad ``image`` into the network input."""
        h0, w0 = image.shape[:2]
        if (w0, h0) != self.image_size:
            raise ValueError(f"planned for {self.image_size}, got an image of {(w0, h0)}")
        if (w0, h0) != self.new_size:
            image = cv2.resize(image, self.new_size, interpolation=cv2.INTER_LINEAR)
        w, h = self.input_size
        right = w - self.new_size[0] - self.left
        bottom = h - self.new_size[1] - self.top
        return cv2.copyMakeBorder(
            image, self.top, bottom, self.left, right, cv2.BORDER_CONSTANT, value=(fill,) * 3
        )

    @property
    def gain(self) -> tuple[float, float]:
        """(x, y) scale from original to input pixels; per axis because each side is rounded."""
        return self.new_size[0] / self.image_size[0], self.new_size[1] / self.image_size[1]

    def boxes_to_image(self, xyxy: np.ndarray) -> np.ndarray:
        """Input-pixel xyxy → image-pixel xyxy, clipped to the image (Ultralytics scale_boxes)."""
        gx, gy = self.gain
        b = np.asarray(xyxy, np.float32).reshape(-1, 4).copy()
        b[:, [0, 2]] = (b[:, [0, 2]] - self.left) / gx
        b[:, [1, 3]] = (b[:, [1, 3]] - self.top) / gy
        b[:, [0, 2]] = b[:, [0, 2]].clip(0, self.image_size[0])
        b[:, [1, 3]] = b[:, [1, 3]].clip(0, self.image_size[1])
        return b

    def points_to_image(self, pts: np.ndarray) -> np.ndarray:
        """Input-pixel (…, ≥2) points → image pixels, clipped (Ultralytics scale_coords)."""
        gx, gy = self.gain
        p = np.asarray(pts, np.float32).copy()
        p[..., 0] = ((p[..., 0] - self.left) / gx).clip(0, self.image_size[0])
        p[..., 1] = ((p[..., 1] - self.top) / gy).clip(0, self.image_size[1])
        return p


def to_input_tensor(
    image_bgr: np.ndarray, lb: Letterbox, colour: str = "rgb", divisor: float = 255.0
) -> np.ndarray:
    """Letterboxed NCHW float32 tensor in the model's colour order.

    Divides (as Ultralytics does) rather than multiplying by 1/255: the
    last-bit difference is enough to move an int8 dynamic-quantisation step.
    """
    img = lb.apply(image_bgr)
    if colour == "rgb":
        img = img[..., ::-1]
    x = np.ascontiguousarray(img.transpose(2, 0, 1)[None], dtype=np.float32)
    if divisor != 1.0:
        x /= np.float32(divisor)
    return x


class InputBuffer:
    """``to_input_tensor`` without per-frame allocations, for one frame size.

    The grey canvas is painted once; each frame is resized straight into its
    place in the canvas, then channel-swapped and divided into a preallocated
    NCHW float32 tensor. Bit-identical to :func:`to_input_tensor` (division,
    not multiplication, as there). The returned tensor is reused: it is valid
    until the next :meth:`fill`.

    >>> lb = Letterbox.plan((64, 48), (32, 32))
    >>> img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    >>> bool((InputBuffer(lb).fill(img) == to_input_tensor(img, lb)).all())
    True
    """

    def __init__(self, lb: Letterbox, colour: str = "rgb", divisor: float = 255.0, fill: int = GREY):
        self.lb = lb
        w, h = lb.input_size
        nw, nh = lb.new_size
        self.canvas = np.full((h, w, 3), fill, np.uint8)
        self._roi = self.canvas[lb.top : lb.top + nh, lb.left : lb.left + nw]
        self.tensor = np.empty((1, 3, h, w), np.float32)
        self._order = (2, 1, 0) if colour == "rgb" else (0, 1, 2)
        self._divisor = np.float32(divisor)
        #: region tensors by shape (a handful: region sides are stride multiples)
        self._crops: dict[tuple, np.ndarray] = {}

    def fill(self, image_bgr: np.ndarray) -> np.ndarray:
        self._paint(image_bgr)
        self._to_tensor(self.canvas, self.tensor)
        return self.tensor

    def fill_region(
        self, image_bgr: np.ndarray, rect: tuple[int, int, int, int]
    ) -> tuple[np.ndarray, Letterbox]:
        """Only ``rect`` (x0, y0, x1, y1 in input pixels) of the letterboxed frame, and how to map it back.

        The crop is cut from the same canvas as :meth:`fill`, so a region sees
        exactly the pixels (and scale) the whole-frame input has there.
        """
        x0, y0, x1, y1 = rect
        self._paint(image_bgr)
        shape = (1, 3, y1 - y0, x1 - x0)
        t = self._crops.get(shape)
        if t is None:
            t = self._crops[shape] = np.empty(shape, np.float32)
        self._to_tensor(self.canvas[y0:y1, x0:x1], t)
        lb = self.lb
        return t, Letterbox(lb.image_size, (x1 - x0, y1 - y0), lb.new_size, lb.left - x0, lb.top - y0)

    def _to_tensor(self, pixels: np.ndarray, out: np.ndarray) -> None:
        for c, src in enumerate(self._order):
            if self._divisor != 1.0:
                np.divide(pixels[:, :, src], self._divisor, out=out[0, c])
            else:
                out[0, c] = pixels[:, :, src]

    def _paint(self, image_bgr: np.ndarray) -> None:
        h0, w0 = image_bgr.shape[:2]
        if (w0, h0) != self.lb.image_size:
            raise ValueError(f"planned for {self.lb.image_size}, got an image of {(w0, h0)}")
        if (w0, h0) == self.lb.new_size:
            self._roi[...] = image_bgr
        else:
            out = cv2.resize(image_bgr, self.lb.new_size, dst=self._roi, interpolation=cv2.INTER_LINEAR)
            if out is not self._roi and not np.shares_memory(out, self.canvas):  # OpenCV made its own buffer
                self._roi[...] = out


# --------------------------------------------------------------------------
# Pure decoders: tensors in, rows (x1, y1, x2, y2, score, cls, extra…) out
# --------------------------------------------------------------------------


def boxes_outside(xyxy: np.ndarray, region: Sequence[float]) -> np.ndarray:
    """Mask of xyxy boxes that do not touch ``region`` (x0, y0, x1, y1).

    >>> boxes_outside(np.array([[0, 0, 5, 5], [8, 8, 20, 20]]), (10, 10, 30, 30)).tolist()
    [True, False]
    """
    x0, y0, x1, y1 = region
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return (b[:, 2] <= x0) | (b[:, 0] >= x1) | (b[:, 3] <= y0) | (b[:, 1] >= y1)


def boxes_inside(xyxy: np.ndarray, region: Sequence[float]) -> np.ndarray:
    """Mask of xyxy boxes wholly inside ``region`` (x0, y0, x1, y1).

    >>> boxes_inside(np.array([[12, 12, 15, 15], [8, 8, 20, 20]]), (10, 10, 30, 30)).tolist()
    [True, False]
    """
    x0, y0, x1, y1 = region
    b = np.asarray(xyxy, np.float32).reshape(-1, 4)
    return (b[:, 0] >= x0) & (b[:, 1] >= y0) & (b[:, 2] <= x1) & (b[:, 3] <= y1)


def _inter(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas, [len(a), len(b)]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.clip(rb - lt, 0, None).prod(axis=2)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    inter = _inter(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thres: float) -> np.ndarray:
    """Greedy NMS like torchvision.ops.nms: indices kept, highest score first.

    >>> nms(np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]]), np.array([0.9, 0.8, 0.7]), 0.5).tolist()
    [0, 2]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    keep: list[int] = []
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        lt = np.maximum(boxes[i, :2], boxes[rest, :2])
        rb = np.minimum(boxes[i, 2:], boxes[rest, 2:])
        inter = np.clip(rb - lt, 0, None).prod(axis=1)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-12)
        order = rest[iou <= iou_thres]
    return np.asarray(keep, np.int64)


def cross_class_nms(
    boxes: np.ndarray, scores: np.ndarray, class_id: np.ndarray, iou_thres: float
) -> np.ndarray:
    """Greedy NMS that suppresses only boxes of *another* class: indices kept, highest score first.

    Per-class NMS has already judged two same-class boxes to be two objects
    (two cartons of one kind stacked in a hand); what is left to remove is a
    second label on one object (a "milk" and a "soy_drink" box on one carton).

    >>> b = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [0, 0, 10, 9]])
    >>> cross_class_nms(b, np.array([0.9, 0.8, 0.7]), np.array([1, 1, 2]), 0.6).tolist()
    [0, 1]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    class_id = np.asarray(class_id).reshape(-1)
    order = np.argsort(-np.asarray(scores, np.float32), kind="stable")
    iou = box_iou(boxes, boxes)
    alive = np.ones(len(boxes), bool)
    keep: list[int] = []
    for i in order:
        if not alive[i]:
            continue
        keep.append(int(i))
        alive &= ~((iou[i] > iou_thres) & (class_id != class_id[i]))
    return np.asarray(keep, np.int64)


def nested_boxes(boxes: np.ndarray, ios: float, area_ratio: float) -> np.ndarray:
    """Which boxes lie inside a much bigger one: a bool mask, True for the nested box.

    A box is nested when at least ``ios`` of it lies inside another box (the
    intersection over the smaller box, supervision's ``OverlapMetric.IOS``)
    that is at least ``1 / area_ratio`` times its size. IoU cannot see this
    case: a sub-box on one carton lying on its side has an IoU of about 0.35
    with the whole carton, yet it is the same item (a phantom second journey,
    a false stacking alert). Two items stacked in a hand have boxes of about
    one size, so the area condition leaves them alone.

    >>> b = np.array([[0, 0, 100, 50], [50, 5, 95, 45], [10, 10, 110, 60]])
    >>> nested_boxes(b, 0.85, 0.6).tolist()
    [False, True, False]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    if len(boxes) < 2 or ios <= 0:
        return np.zeros(len(boxes), bool)
    inter = _inter(boxes, boxes)  # [small, big]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = inter >= ios * np.maximum(area[:, None], 1e-12)
    much_bigger = area[:, None] <= area_ratio * area[None, :]
    np.fill_diagonal(inside, False)
    return (inside & much_bigger).any(axis=1)


def boxes_with_hand(
    boxes: np.ndarray,
    scores: np.ndarray,
    hands: np.ndarray,
    *,
    hand_share: float,
    ios: float = 0.6,
    area_ratio: float = 0.75,
) -> np.ndarray:
    """Which boxes are an item box and the hand holding it: a bool mask, True for the bigger box.

    The detector sometimes adds a weaker, bigger box around an item and the
    hand under it (kset10 normal-121212-025: a bottle carried flat, 0.37
    against the bottle's 0.67). It passes NMS (IoU ~0.4) and the nested rule
    (the item is in it, not it in the item), is tracked beside the item and
    reads as a second item stacked with it. A box is such a box when a
    better-scored box lies at least ``ios`` inside it, is at most
    ``area_ratio`` of its size, and at least ``hand_share`` of the rest of it
    is one hand. A sub-box on a carton (the carton box around it is no hand)
    and two stacked items of one size are left alone.

    >>> b = np.array([[173, 210, 301, 278], [191, 215, 318, 338], [0, 0, 50, 50]], np.float32)
    >>> boxes_with_hand(b, np.array([0.67, 0.37, 0.9]), np.array([[207, 267, 313, 360]]), hand_share=0.5).tolist()
    [False, True, False]
    >>> boxes_with_hand(b, np.array([0.67, 0.37, 0.9]), np.zeros((0, 4)), hand_share=0.5).tolist()
    [False, False, False]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    hands = np.asarray(hands, np.float32).reshape(-1, 4)
    n = len(boxes)
    if n < 2 or not len(hands) or hand_share <= 0:
        return np.zeros(n, bool)
    scores = np.asarray(scores, np.float32).reshape(-1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inter = _inter(boxes, boxes)  # [item, container]
    candidate = (
        (inter >= ios * np.maximum(area[:, None], 1e-12))
        & (area[:, None] <= area_ratio * area[None, :])
        & (scores[:, None] > scores[None, :])
    )
    np.fill_diagonal(candidate, False)
    out = np.zeros(n, bool)
    hand_in = _inter(boxes, hands)  # [box, hand]
    for item, box in zip(*np.nonzero(candidate)):
        if out[box]:
            continue
        both = np.array(
            [
                [
                    max(boxes[item, 0], boxes[box, 0]),
                    max(boxes[item, 1], boxes[box, 1]),
                    min(boxes[item, 2], boxes[box, 2]),
                    min(boxes[item, 3], boxes[box, 3]),
                ]
            ],
            np.float32,
        )
        hand_in_box = hand_in[box]
        hand_in_item = _inter(both, hands)[0]  # the hand over the item part is no "rest"
        rest = area[box] - inter[item, box]
        out[box] = bool(rest > 0 and ((hand_in_box - hand_in_item) >= hand_share * rest).any())
    return out


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    out = np.empty_like(b)
    half_w, half_h = b[..., 2] / 2, b[..., 3] / 2
    out[..., 0] = b[..., 0] - half_w
    out[..., 1] = b[..., 1] - half_h
    out[..., 2] = b[..., 0] + half_w
    out[..., 3] = b[..., 1] + half_h
    return out


def decode_raw(
    output: np.ndarray,
    *,
    conf: float = 0.25,
    iou: float = 0.7,
    nc: int = 0,
    max_det: int = MAX_DET,
    agnostic: bool = False,
) -> np.ndarray:
    """Ultralytics raw head ``[1, 4+nc+extra, N]`` → rows ``(M, 6+extra)`` in input pixels.

    Ultralytics ``non_max_suppression``: best class only, ``score > conf``,
    per-class NMS, ``max_det``. ``nc = 0`` means every channel after the box
    is a class (detect); pose models pass ``nc`` so the keypoints are extra.
    """
    pred = np.asarray(output, np.float32)
    if pred.ndim == 3:
        if pred.shape[0] != 1:
            raise ValueError(f"batch size {pred.shape[0]}: decode one image at a time")
        pred = pred[0]
    if pred.ndim != 2:
        raise ValueError(f"expected [1, C, N], got shape {output.shape}")
    nc = nc or pred.shape[0] - 4
    extra = pred.shape[0] - 4 - nc
    if extra < 0:
        raise ValueError(f"{pred.shape[0]} channels cannot hold 4 box values and {nc} classes")
    cls_scores = pred[4 : 4 + nc]
    score = cls_scores.max(axis=0)
    cand = np.flatnonzero(score > conf)
    if not cand.size:
        return np.zeros((0, 6 + extra), np.float32)
    x = pred[:, cand].T  # (M, C)
    cls = cls_scores[:, cand].argmax(axis=0)
    rows = np.concatenate(
        [xywh_to_xyxy(x[:, :4]), score[cand, None], cls[:, None].astype(np.float32), x[:, 4 + nc :]], axis=1
    )
    if len(rows) > MAX_NMS:
        rows = rows[np.argsort(-rows[:, 4], kind="stable")[:MAX_NMS]]
    offset = 0.0 if agnostic else rows[:, 5:6] * MAX_WH
    keep = nms(rows[:, :4] + offset, rows[:, 4], iou)[:max_det]
    return rows[keep]


def decode_end2end(output: np.ndarray, *, conf: float = 0.25, max_det: int = MAX_DET) -> np.ndarray:
    """NMS-free head ``[1, K, 6+extra]`` (x1, y1, x2, y2, score, cls, …) → rows above ``conf``."""
    pred = np.asarray(output, np.float32)
    if pred.ndim == 3:
        pred = pred[0]
    if pred.ndim != 2 or pred.shape[1] < 6:
        raise ValueError(f"expected [1, K, 6+extra], got shape {np.shape(output)}")
    return pred[pred[:, 4] > conf][:max_det]


def yolox_grid(
    input_size: tuple[int, int], strides: Sequence[int] = (8, 16, 32)
) -> tuple[np.ndarray, np.ndarray]:
    """Grid cells (N, 2) and their strides (N,) in YOLOX row order (stride, then y, then x)."""
    w, h = input_size
    grids, expanded = [], []
    for s in strides:
        gy, gx = np.mgrid[0 : h // s, 0 : w // s]
        grids.append(np.stack([gx.ravel(), gy.ravel()], axis=1))
        expanded.append(np.full(grids[-1].shape[0], s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(expanded).astype(np.float32)


def decode_yolox(
    output: np.ndarray,
    *,
    input_size: tuple[int, int],
    conf: float = 0.25,
    iou: float = 0.45,
    max_det: int = MAX_DET,
) -> np.ndarray:
    """YOLOX raw ``[1, N, 5+nc]`` (grid offsets, sigmoid obj and classes) → rows in input pixels."""
    pred = np.asarray(output, np.float32)
    if pred.ndim == 3:
        pred = pred[0]
    grid, stride = yolox_grid(input_size)
    if len(grid) != len(pred):
        raise ValueError(f"{len(pred)} rows, a {input_size} input has {len(grid)} grid cells")
    cxcy = (pred[:, :2] + grid) * stride[:, None]
    wh = np.exp(pred[:, 2:4]) * stride[:, None]
    score_all = pred[:, 4:5] * pred[:, 5:]
    cls = score_all.argmax(axis=1)
    score = score_all[np.arange(len(pred)), cls]
    keep = score > conf
    boxes = xywh_to_xyxy(np.concatenate([cxcy, wh], axis=1)[keep])
    rows = np.concatenate([boxes, score[keep, None], cls[keep, None].astype(np.float32)], axis=1)
    k = nms(rows[:, :4] + rows[:, 5:6] * MAX_WH, rows[:, 4], iou)[:max_det]
    return rows[k]


# --------------------------------------------------------------------------
# The imperative shell: a session and a frame
# --------------------------------------------------------------------------


class YoloDetector:
    """One verified YOLO model on ONNX Runtime: BGR frame in, Detections out.

    ``detect`` is the whole per-frame path: letterbox, run, decode. Pose
    models fill ``Detections.keypoints`` (17 COCO points; 9/10 = wrists).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        provider: str = "cpu",
        threads: int = 0,
        expected_sha256: str | None = None,
        max_det: int = MAX_DET,
        require_manifest: bool = False,
        session_config: dict[str, str] | None = None,
    ):
        self.model: LoadedModel = open_model(
            path,
            provider=provider,
            threads=threads,
            expected_sha256=expected_sha256,
            require_manifest=require_manifest,
            session_config=session_config,
        )
        spec = self.model.spec
        if spec.task not in ("detect", "pose"):
            raise ModelError(f"{path}: model {spec.name!r} is a {spec.task!r} model, not a YOLO detector")
        self.spec = spec
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.input_size: tuple[int, int] = spec.input_size
        self.names: tuple[str, ...] = spec.names
        self.task: str = spec.task
        self._yolox = spec.output_format == "yolox"
        #: the graph takes any size: letterbox to the smallest stride multiple
        #: that holds the frame (Ultralytics' ``auto``), and detect regions
        self.dynamic = spec.dynamic and not self._yolox
        #: one reused input buffer per calling thread: frames may be detected in parallel
        self._local = threading.local()
        #: letterbox plans by image size (immutable, so threads may share them)
        self._plans: dict[tuple[int, int], Letterbox] = {}

    @property
    def providers(self) -> list[str]:
        return self.model.providers

    def letterbox_for(self, image_size: tuple[int, int]) -> Letterbox:
        lb = self._plans.get(image_size)  # region planning asks several times a frame
        if lb is None:
            lb = Letterbox.plan(image_size, self.input_size, center=not self._yolox, floor=self._yolox)
            if self.dynamic:  # a 4:3 camera at 320 wide needs 320x256, not 320x320
                nw, nh = lb.new_size
                lb = Letterbox.plan(image_size, (-(-nw // STRIDE) * STRIDE, -(-nh // STRIDE) * STRIDE))
            self._plans[tuple(image_size)] = lb
        return lb

    def region_rect(
        self,
        image_size: tuple[int, int],
        region: Sequence[float],
        *,
        pad: int = 32,
        min_side: int = 128,
        max_area: float = 0.6,
    ) -> tuple[int, int, int, int] | None:
        """The input rectangle to detect an image region in, or None for the whole frame.

        ``region`` is x0, y0, x1, y1 in image pixels. The rectangle is padded by
        ``pad`` input pixels, its sides rounded up to stride multiples (at least
        ``min_side``) and kept inside the input; None when the model takes one
        size only or when the rectangle would be over ``max_area`` of the input.
        """
        if not self.dynamic:
            return None
        lb = self.letterbox_for(image_size)
        gx, gy = lb.gain
        W, H = lb.input_size
        x0, y0, x1, y1 = region
        cx0, cx1 = x0 * gx + lb.left - pad, x1 * gx + lb.left + pad
        cy0, cy1 = y0 * gy + lb.top - pad, y1 * gy + lb.top + pad
        rect = []
        for lo, hi, side in ((cx0, cx1, W), (cy0, cy1, H)):
            n = min(side, max(min_side, -(-int(np.ceil(hi - lo)) // STRIDE) * STRIDE))
            start = int(round((lo + hi - n) / 2))
            start = min(max(start, 0), side - n)
            rect.append((start, start + n))
        (rx0, rx1), (ry0, ry1) = rect
        if (rx1 - rx0) * (ry1 - ry0) > max_area * W * H:
            return None
        return rx0, ry0, rx1, ry1

    def rect_to_image(
        self, image_size: tuple[int, int], rect: Sequence[int]
    ) -> tuple[float, float, float, float]:
        """An input rectangle's extent in image pixels (clipped to the image)."""
        b = self.letterbox_for(image_size).boxes_to_image(np.asarray(rect, np.float32))[0]
        return float(b[0]), float(b[1]), float(b[2]), float(b[3])

    def _buffer(self, image_size: tuple[int, int]) -> InputBuffer:
        buf = getattr(self._local, "buf", None)
        if buf is None or buf.lb.image_size != image_size:
            buf = self._local.buf = InputBuffer(
                self.letterbox_for(image_size), self.spec.colour, 1.0 if self._yolox else 255.0
            )
        return buf

    def preprocess(
        self, frame_bgr: np.ndarray, rect: tuple[int, int, int, int] | None = None
    ) -> tuple[np.ndarray, Letterbox]:
        """Letterbox into this detector's reused input tensor (valid until the next call).

        With ``rect`` (from :meth:`region_rect`) only that part of the input.
        """
        if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(
                f"expected an HxWx3 BGR frame, got {None if frame_bgr is None else frame_bgr.shape}"
            )
        h, w = frame_bgr.shape[:2]
        buf = self._buffer((w, h))
        if rect is not None:
            return buf.fill_region(frame_bgr, rect)
        return buf.fill(frame_bgr), buf.lb

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.model.run(x)[0]

    def decode(self, out: np.ndarray, lb: Letterbox) -> Detections:
        return Detections.from_onnx_yolo(
            out, spec=self.spec, letterbox=lb, conf=self.conf, iou=self.iou, max_det=self.max_det
        )

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """``preprocess`` → ``infer`` → ``decode``: the whole per-frame path."""
        x, lb = self.preprocess(frame_bgr)
        return self.decode(self.infer(x), lb)
