"""One box per item: rules that find a second box on one physical item.

Pure functions over xyxy boxes. Each rule finds a box that would be tracked
as a second item beside the real one (a phantom journey, a false stacking
alert) and that NMS cannot see: a box nested in a much bigger one
(:func:`nested_boxes`), a box that is an item and the hand holding it
(:func:`boxes_with_hand`).
"""

from __future__ import annotations

import numpy as np

from edge_app.perception.boxes import box_intersections


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
    inter = box_intersections(boxes, boxes)  # [small, big]
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inside = inter >= ios * np.maximum(area[:, None], 1e-12)
    much_bigger = area[:, None] <= area_ratio * area[None, :]
    np.fill_diagonal(inside, False)
    return np.asarray((inside & much_bigger).any(axis=1))


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
    >>> scores, hand = np.array([0.67, 0.37, 0.9]), np.array([[207, 267, 313, 360]])
    >>> boxes_with_hand(b, scores, hand, hand_share=0.5).tolist()
    [False, True, False]
    >>> boxes_with_hand(b, scores, np.zeros((0, 4)), hand_share=0.5).tolist()
    [False, False, False]
    """
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
    hands = np.asarray(hands, np.float32).reshape(-1, 4)
    n = len(boxes)
    if n < 2 or not len(hands) or hand_share <= 0:
        return np.zeros(n, bool)
    scores = np.asarray(scores, np.float32).reshape(-1)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    inter = box_intersections(boxes, boxes)  # [item, container]
    candidate = (
        (inter >= ios * np.maximum(area[:, None], 1e-12))
        & (area[:, None] <= area_ratio * area[None, :])
        & (scores[:, None] > scores[None, :])
    )
    np.fill_diagonal(candidate, False)
    out = np.zeros(n, bool)
    hand_in = box_intersections(boxes, hands)  # [box, hand]
    for item, box in zip(*np.nonzero(candidate), strict=True):
        if out[box]:
            continue
        hand_in_box = hand_in[box]
        # the hand over the item part is no "rest"
        hand_in_item = box_intersections(_overlap(boxes[item], boxes[box]), hands)[0]
        rest = area[box] - inter[item, box]
        out[box] = bool(rest > 0 and ((hand_in_box - hand_in_item) >= hand_share * rest).any())
    return out


def _overlap(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Where two xyxy boxes overlap, as one (1, 4) float32 box."""
    return np.array([[max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]], np.float32)
