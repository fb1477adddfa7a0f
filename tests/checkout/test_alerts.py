"""The alert rules, one at a time, on real records."""

from __future__ import annotations

import itertools

from edge_app.checkout.alerts import (
    VoidWatch,
    alert_type,
    assist_since,
    label_is_sure,
    raise_alert,
    stack_companions,
)
from edge_app.checkout.state import Journey, JourneyState, TrackSeen, Transaction
from edge_app.events import AlertType


def journey(jid, start, land=None, state=JourneyState.LANDED, over=False, **kw):
    return Journey(
        jid, int(jid[1:]), "bottle", start, over_scanner=over, landed_ts=land, state=state, **kw
    )


def test_an_unpaid_item_is_a_pass_over_or_a_bypass():
    assert alert_type(journey("J1", 1.0, 3.0, over=True), []) == AlertType.PASS_OVER
    assert alert_type(journey("J1", 1.0, 3.0), []) == AlertType.BYPASS


def test_the_unpaid_item_of_a_stack_whose_other_item_was_scanned_is_multi_item():
    unpaid, paid = journey("J1", 1.0, 3.0), journey("J2", 1.2, 3.1, state=JourneyState.MATCHED)
    companions = stack_companions(unpaid, [unpaid, paid], {}, window_s=0.5)
    assert companions == [paid]
    assert alert_type(unpaid, companions) == AlertType.MULTI_ITEM
    assert stack_companions(unpaid, [unpaid, paid], {}, window_s=0.0) == []  # stacks switched off


def test_items_set_down_by_one_hand_are_a_stack_however_far_apart_they_left_the_basket():
    a = journey("J1", 1.0, 3.0, landed_carrier=7)
    b = journey("J2", 2.0, 3.2, landed_carrier=7)
    assert stack_companions(a, [a, b], {}, window_s=0.5) == [b]
    b.landed_carrier = 8
    assert stack_companions(a, [a, b], {}, window_s=0.5) == []


def test_a_ticket_switch_needs_two_votes_since_the_pick_up_and_none_for_the_scanned_product():
    j = journey("J1", 5.0, 8.0)
    seen = TrackSeen(
        labels={"juice": 5, "bottle": 2}, label_log=[(1.0, "juice")] * 5 + [(6.0, "bottle")] * 2
    )
    assert label_is_sure(j, "juice", seen)  # the juice votes came before the carry
    seen.label_log.append((7.0, "juice"))
    assert not label_is_sure(j, "juice", seen)
    assert not label_is_sure(journey("J2", 5.0, 8.0, behind=True), "juice", TrackSeen())


def test_a_blind_lane_marks_the_journey_unverified_instead_of_raising():
    tx = Transaction("T00001", 0.0, 0.0)
    j = journey("J1", 1.0, 3.0)
    assert (
        raise_alert(tx, j, AlertType.BYPASS, blind=True, number=itertools.count(1).__next__) is None
    )
    assert j.state == JourneyState.UNVERIFIED and tx.unverified and not tx.alerts


def test_one_alert_per_journey_and_type():
    tx, numbers = Transaction("T00001", 0.0, 0.0), itertools.count(1).__next__
    j = journey("J1", 1.0, 3.0)
    first = raise_alert(tx, j, AlertType.BYPASS, blind=False, number=numbers)
    assert first is not None and first.alert_id == "T00001-A001" and j.state == JourneyState.ALERTED
    assert raise_alert(tx, j, AlertType.BYPASS, blind=False, number=numbers) is None
    mismatch = raise_alert(tx, j, AlertType.MISMATCH, blind=False, number=numbers)
    assert mismatch is not None and mismatch.alert_id == "T00001-A002"


def test_assist_is_offered_for_the_first_thing_left_on_the_glass_since_the_last_beep():
    assert assist_since([1.0, 4.0], last_scan=2.0, now=10.0, dwell=8.0) == 2.0
    assert assist_since([4.0], last_scan=2.0, now=10.0, dwell=8.0) is None


def test_a_voided_item_must_leave_the_bag_or_be_repaid():
    out_of_bag, repaid, kept = (
        journey("J1", 1.0, 2.0),
        journey("J2", 1.0, 2.0),
        journey("J3", 1.0, 2.0),
    )
    for j in (out_of_bag, repaid, kept):
        j.in_bag = True
    watch = VoidWatch()
    for j in (out_of_bag, repaid, kept):
        watch.add(j, 5.0)
    out_of_bag.in_bag = False
    assert list(watch.kept(6.0, 0.6, 3.0, lambda j: j is repaid)) == []  # not yet due
    assert [j.journey_id for j in watch.kept(8.6, 0.6, 3.0, lambda j: False)] == ["J3"]
    assert watch.watched == []
