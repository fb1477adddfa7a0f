"""The engine's records: journey states are vocabulary words."""

from __future__ import annotations

import json

from edge_app.checkout.state import OPEN, Journey, JourneyState, seconds


def test_journey_states_compare_hash_and_serialise_as_their_value():
    assert JourneyState.IN_FLIGHT == "in_flight" and "landed" in {JourneyState.LANDED}
    assert json.dumps({"state": JourneyState.CORRECTED}) == '{"state": "self_corrected"}'
    assert f"{JourneyState.PENDING}" == "pending" and repr(JourneyState.ALERTED) == "'alerted'"


def test_only_landed_and_pending_journeys_are_open():
    assert OPEN == (JourneyState.LANDED, JourneyState.PENDING)


def test_a_journey_expects_its_beep_over_the_glass_else_at_the_landing():
    j = Journey("J00001", 1, "bottle", start_ts=1.0)
    assert j.ref_ts == 1.0 and j.state == JourneyState.IN_FLIGHT
    j.landed_ts = 3.0
    assert j.ref_ts == 3.0
    j.scan_zone_ts = 2.0
    assert j.ref_ts == 2.0


def test_config_milliseconds_are_engine_seconds():
    assert seconds(1500) == 1.5
