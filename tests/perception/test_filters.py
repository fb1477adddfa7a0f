"""One box per item: class roles and the rules, on real Detections (no model, no tracker)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_app.config import load_config
from edge_app.perception.detections import Detections
from edge_app.perception.filters import ClassRoles, OneBoxPerItem

DEMO = Path(__file__).resolve().parents[2] / "calibration" / "demo" / "lane.yaml"
NAMES = ("person", "milk", "soy_drink", "hand")


def test_class_roles_sort_a_frame_into_products_hands_and_people():
    roles = ClassRoles.of(NAMES, wanted=["milk", "soy_drink"], hand_class="hand")
    dets = Detections(
        [[0, 0, 100, 200], [20, 20, 40, 40], [50, 50, 60, 60], [10, 10, 30, 30]],
        [0.9, 0.8, 0.7, 0.6],
        [0, 1, 3, 2],
        NAMES,
    )
    items, hands, people = roles.split(dets)
    assert items.labels() == ["milk", "soy_drink"]
    assert hands is not None and hands.labels() == ["hand"]
    assert people is not None and people.tolist() == [[0, 0, 100, 200]]


def test_no_hand_or_person_class_gives_none_not_an_empty_list():
    roles = ClassRoles.of(("milk", "hand"), wanted=[], hand_class=None)
    items, hands, people = roles.split(Detections([[0, 0, 9, 9]], [0.9], [1], ("milk", "hand")))
    assert hands is None and people is None
    assert items.labels() == ["hand"]  # no classes listed: every class but "person" is a product


TWO_LABELS = Detections([[100, 100, 160, 260], [102, 98, 161, 262]], [0.6, 0.8], [1, 2], NAMES)


@pytest.mark.parametrize("enabled, labels", [(True, ["soy_drink"]), (False, ["milk", "soy_drink"])])
def test_one_carton_with_two_labels_keeps_the_better_one(enabled, labels):
    products = load_config(DEMO).models.products.model_copy(update={"one_box_per_item": enabled})
    rules = OneBoxPerItem.from_config(products)
    assert rules.iou == min(products.iou, 0.6)
    assert rules.apply(TWO_LABELS, None).labels() == labels


def test_a_single_box_is_left_alone():
    rules = OneBoxPerItem(True, 0.6, True, 0.85, 0.6, 0.5)
    one = TWO_LABELS.filter(np.array([0]))
    assert rules.apply(one, None) is one
