"""Matching: which scan line paid for which journey (pure functions)."""

from __future__ import annotations

from edge_app.checkout.matching import assign, free_lines, open_slots, pair_cost, repay_line, window
from edge_app.checkout.state import Journey, JourneyState, ScanLine
from edge_app.config import CheckoutConfig
from edge_app.events import Scan

CFG = CheckoutConfig(match_before_ms=1500, match_after_ms=1500)


def line(t, qty=1, scanner="flatbed"):
    return ScanLine(Scan(ts=t, scanner_id=scanner, gtin="05449000000996"), qty)


def landed(jid, start, land, glass=None, glass_end=None, state=JourneyState.LANDED):
    return Journey(
        jid,
        int(jid[1:]),
        "bottle",
        start,
        over_scanner=glass is not None,
        scan_zone_ts=glass,
        glass_end_ts=glass_end,
        landed_ts=land,
        in_bag=True,
        state=state,
    )


def test_a_line_may_pay_from_before_the_pick_up_to_after_the_landing():
    j = landed("J1", start=1.0, land=3.0, glass=2.0)
    assert window(j, now=10.0, cfg=CFG) == (-0.5, 4.5)


def test_an_alerted_item_shown_over_the_glass_again_waits_for_its_beep_until_now():
    j = landed("J1", start=1.0, land=3.0, glass=7.0, state=JourneyState.ALERTED)
    assert window(j, now=10.0, cfg=CFG) == (-0.5, 10.0)
    j.state = JourneyState.MATCHED  # only the fix of an open journey waits
    assert window(j, now=10.0, cfg=CFG)[1] == 4.5


def test_a_beep_while_the_item_is_over_the_glass_fits_it_best():
    j = landed("J1", start=1.0, land=3.0, glass=2.0, glass_end=2.5)
    assert pair_cost(j, line(2.2).scan, end=3.0) < pair_cost(j, line(2.9).scan, end=3.0)
    round_the_glass = landed("J2", start=1.0, land=3.0)
    assert pair_cost(round_the_glass, line(3.0).scan, end=3.0) == 1.0  # the bypass penalty
    keyed = line(2.0, scanner="pos").scan
    assert pair_cost(round_the_glass, keyed, end=3.0) == 0.0  # keyed any time while carried


def test_a_bypassed_item_cannot_take_the_beep_of_the_item_over_the_glass():
    bypassed = landed("J1", start=0.5, land=2.0)
    on_glass = Journey("J2", 2, "bottle", 1.0, over_scanner=True, scan_zone_ts=1.8)
    pairs = assign([bypassed, on_glass], [line(2.1)], now=2.2, cfg=CFG)
    assert pairs == [(on_glass, 0)]


def test_nothing_is_assigned_before_anything_has_landed_or_when_every_line_is_used():
    flying = Journey("J1", 1, "bottle", 1.0, over_scanner=True, scan_zone_ts=1.5)
    assert assign([flying], [line(1.6)], now=2.0, cfg=CFG) is None
    used = line(2.5)
    used.used = 1
    assert open_slots([used]) == [] and free_lines([used]) == []
    assert assign([landed("J2", 1.0, 3.0)], [used], now=3.1, cfg=CFG) is None


def test_a_line_of_quantity_two_pays_for_two_items():
    a, b = landed("J1", 1.0, 3.0, glass=2.0), landed("J2", 1.05, 3.05, glass=2.05)
    pairs = assign([a, b], [line(2.3, qty=2)], now=3.2, cfg=CFG)
    assert sorted(j.journey_id for j, _ in pairs) == ["J1", "J2"] and {i for _, i in pairs} == {0}


def test_a_voided_item_is_repaid_by_the_closest_free_line_in_its_window():
    j = landed("J1", start=1.0, land=3.0, glass=2.0)
    voided, far, near = line(2.1), line(3.9), line(2.4)
    voided.voided = True
    assert repay_line(j, [voided, far, near], now=5.0, cfg=CFG) == 2
    assert repay_line(j, [voided], now=5.0, cfg=CFG) is None
