"""YOLO output tensors decoded exactly as Ultralytics decodes them (and YOLOX as YOLOX does).

Pure numpy and separate from the session, so they are tested on synthetic
tensors (end-to-end and pose included) and, through the detector, against
Ultralytics' own predictions on real images
(``tests/perception/test_yolo_vs_ultralytics.py``). Tensors in, rows
``(x1, y1, x2, y2, score, cls, extra…)`` in input pixels out:

* raw output ``[1, 4+nc(+extra), N]``: best class only, ``score > conf``,
  per-class NMS (boxes offset by ``class × 7680``), at most 30000 boxes into
  NMS and ``max_det = 300`` out;
* end-to-end output ``[1, K, 6(+extra)]``: ``score > conf``, first ``max_det``;
* YOLOX ``[1, N, 5+nc]``: grid offsets and strides, objectness × class score.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from edge_app.perception.boxes import nms, xywh_to_xyxy

MAX_DET = 300
MAX_NMS = 30000
MAX_WH = 7680  # Ultralytics' per-class box offset for class-aware NMS


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
        [
            xywh_to_xyxy(x[:, :4]),
            score[cand, None],
            cls[:, None].astype(np.float32),
            x[:, 4 + nc :],
        ],
        axis=1,
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
