"""Box maths on xyxy arrays: overlap, IoU, NMS. Pure numpy, no model in sight.

Kept apart from :class:`~edge_app.perception.detections.Detections` (as
supervision keeps ``iou_and_nms`` apart from its data type): the decoders, the
tracker, the region planner and the one-box-per-item filters all share it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def box_intersections(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection areas, [len(a), len(b)]."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    return np.clip(rb - lt, 0, None).prod(axis=2)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    a = np.asarray(a, np.float32).reshape(-1, 4)
    b = np.asarray(b, np.float32).reshape(-1, 4)
    inter = box_intersections(a, b)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0).astype(np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thres: float) -> np.ndarray:
    """Greedy NMS like torchvision.ops.nms: indices kept, highest score first.

    >>> boxes = np.array([[0, 0, 10, 10], [1, 1, 10, 10], [20, 20, 30, 30]])
    >>> nms(boxes, np.array([0.9, 0.8, 0.7]), 0.5).tolist()
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


def xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    out = np.empty_like(b)
    half_w, half_h = b[..., 2] / 2, b[..., 3] / 2
    out[..., 0] = b[..., 0] - half_w
    out[..., 1] = b[..., 1] - half_h
    out[..., 2] = b[..., 0] + half_w
    out[..., 3] = b[..., 1] + half_h
    return out
