"""One box per item: the rules that turn a frame's detections into items, hands and people.

Pure functions and frozen settings over ``Detections``; no tracker, no time.
Each rule removes a box that would be tracked as a second item beside the
real one: a phantom journey, a false stacking alert.

* :class:`ClassRoles` sorts the product model's rows: products, hands (when
  the model itself detects them), people (only blurred in evidence clips).
* :class:`OneBoxPerItem` then keeps one box per physical item: NMS across
  product classes (``keep_stacks``: never between two boxes of one class),
  no box nested in a much bigger one (:func:`nested_boxes`), no box that is
  an item and the hand holding it (:func:`boxes_with_hand`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_app.config import ProductModelConfig
from edge_app.perception.boxes import box_intersections, cross_class_nms, nms
from edge_app.perception.detections import Detections

#: one-box-per-item NMS across classes never runs looser than this IoU
AGNOSTIC_IOU_MAX = 0.6


@dataclass(frozen=True, eq=False)
class ClassRoles:
    """Which class ids of the product model are products, hands and people.

    >>> roles = ClassRoles.of(("person", "milk", "hand"), wanted=["milk"], hand_class="hand")
    >>> roles.products.tolist(), roles.hands.tolist(), roles.person
    ([1], [2], 0)
    """

    products: np.ndarray  # int32 class ids
    #: hand class ids ('detector' hands backend); empty when hands come from elsewhere or nowhere
    hands: np.ndarray
    #: the person class id, -1 when the model has none
    person: int = -1

    @classmethod
    def of(
        cls, names: Sequence[str], *, wanted: Sequence[str], hand_class: str | None
    ) -> ClassRoles:
        """Products are the ``wanted`` classes (none listed: every class but "person" and the
        hand class); a hand is never a product, listed or not.

        >>> ClassRoles.of(("person", "milk", "hand"), wanted=[], hand_class="hand").products.tolist()
        [1]
        """
        names = list(names)
        hands = (
            np.array([names.index(hand_class)], np.int32) if hand_class else np.array([], np.int32)
        )
        person = names.index("person") if "person" in names else -1
        want = set(wanted)
        products = np.array(
            [
                i
                for i, n in enumerate(names)
                if n != hand_class and (n in want if want else n != "person")
            ],
            np.int32,
        )
        return cls(products, hands, person)

    def split(self, dets: Detections) -> tuple[Detections, Detections | None, np.ndarray | None]:
        """(products, hands or None, person boxes or None): None when the model has no such class."""
        hands = dets.filter(np.isin(dets.class_id, self.hands)) if len(self.hands) else None
        # people (a COCO model's shopper) are no product, but evidence blurs their heads
        people = dets.xyxy[dets.class_id == self.person] if self.person >= 0 else None
        return dets.filter(np.isin(dets.class_id, self.products)), hands, people


@dataclass(frozen=True)
class OneBoxPerItem:
    """``models.products``' one-box-per-item rules, applied to one frame's product boxes."""

    enabled: bool
    #: IoU of the NMS across classes
    iou: float
    keep_stacks: bool
    nested_ios: float
    nested_area_ratio: float
    hand_box_share: float

    @classmethod
    def from_config(cls, products: ProductModelConfig) -> OneBoxPerItem:
        return cls(
            enabled=products.one_box_per_item,
            iou=min(products.iou, AGNOSTIC_IOU_MAX),
            keep_stacks=products.keep_stacks,
            nested_ios=products.nested_ios,
            nested_area_ratio=products.nested_area_ratio,
            hand_box_share=products.hand_box_share,
        )

    def apply(self, items: Detections, hands: Detections | None) -> Detections:
        """The boxes of ``items`` that are items of their own (``hands``: the frame's hand boxes)."""
        if not self.enabled or len(items) <= 1:
            return items
        # Per-class NMS keeps a "milk" and a "soy_drink" box on one carton: two
        # tracks, a phantom journey and a false stacking alert. Keep the best label.
        # keep_stacks: never merge two boxes of one class, which per-class NMS judged
        # two items (two cartons of a kind stacked, the multi_item case).
        keep = (
            cross_class_nms(items.xyxy, items.score, items.class_id, self.iou)
            if self.keep_stacks
            else nms(items.xyxy, items.score, self.iou)
        )
        items = items.filter(keep)
        if self.nested_ios > 0 and len(items) > 1:
            # a box inside a much bigger one is part of that item (IoU cannot see it)
            items = items.filter(~nested_boxes(items.xyxy, self.nested_ios, self.nested_area_ratio))
        if self.hand_box_share > 0 and hands is not None and len(hands) and len(items) > 1:
            # an item and the hand under it, boxed as one: no second item beside the first
            items = items.filter(
                ~boxes_with_hand(
                    items.xyxy, items.score, hands.xyxy, hand_share=self.hand_box_share
                )
            )
        return items


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
    hand under it (a bottle carried flat: 0.37 against the bottle's 0.67).
    It passes NMS (IoU ~0.4) and the nested rule (the item is in it, not it
    in the item), is tracked beside the item and
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
    return np.array(
        [[max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])]], np.float32
    )
