"""The glass log: who was over the scanner glass, and when."""

from __future__ import annotations

from edge_app.checkout.glass import GlassLog
from edge_app.events import ZoneEvent


def glass(t, track, action, kind="item", seen_ts=None):
    return ZoneEvent(ts=t, track_id=track, kind=kind, zone="scan", action=action, seen_ts=seen_ts)


def test_a_lost_track_left_the_glass_when_it_was_last_seen():
    log = GlassLog(keep_s=6.0)
    log.record(glass(1.0, 2, "entered"), 1.0)
    log.record(glass(3.9, 2, "lost", seen_ts=2.8), 3.9)
    assert log.busy(2.5, 2.8) and not log.busy(2.81, 5.0)


def test_a_seen_time_outside_the_stay_is_not_believed():
    log = GlassLog(keep_s=6.0)
    log.record(glass(1.0, 2, "entered"), 1.0)
    log.record(glass(3.9, 2, "lost", seen_ts=0.5), 3.9)  # before it arrived: the report time counts
    assert log.busy(3.5, 3.9)


def test_hands_count_and_a_stay_not_ended_is_still_there():
    log = GlassLog(keep_s=6.0)
    log.record(glass(1.0, 40, "entered", kind="hand"), 1.0)
    log.record(glass(1.5, 2, "entered"), 1.5)
    log.record(glass(2.0, 2, "exited"), 2.0)
    assert log.busy(100.0, 101.0)  # the hand never left
    assert list(log.still_there()) == [1.0]


def test_stays_are_forgotten_once_no_scan_can_be_checked_against_them():
    log = GlassLog(keep_s=6.0)
    log.record(glass(1.0, 2, "entered"), 1.0)
    log.record(glass(2.0, 2, "exited"), 2.0)
    log.record(glass(8.5, 3, "entered"), 8.5)
    assert 2 not in log.spans and not log.busy(0.0, 3.0)
