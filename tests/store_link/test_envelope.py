"""Envelopes: numbering per boot, UTC wall time from the injected clock, schema checks."""

from __future__ import annotations

import math
import re
import uuid

import pytest

from edge_app.events import LaneEvent
from edge_app.store_link.envelope import (
    EnvelopeFactory,
    InvalidPayload,
    iso_utc,
    new_event_id,
    validate_envelope,
)


def factory(clock=lambda: 1_700_000_000.25) -> EnvelopeFactory:
    return EnvelopeFactory("store-042", "lane-03", boot_id="boot-7", wall_clock=clock)


def test_seq_counts_per_boot_and_ids_are_unique_uuids():
    f = factory()
    envs = [
        f.build(LaneEvent(ts=float(i), type="transaction.started", transaction_id="t"))
        for i in range(50)
    ]
    assert [e.seq for e in envs] == list(range(1, 51))
    assert len({e.event_id for e in envs}) == 50
    assert all(uuid.UUID(e.event_id) for e in envs)
    assert {e.boot_id for e in envs} == {"boot-7"}
    assert (
        factory().build(LaneEvent(ts=0.0, type="transaction.started")).seq == 1
    )  # a new boot starts again


def test_wall_time_is_iso_utc_from_the_injected_clock_and_mono_ts_is_the_event_ts():
    env = factory().build(
        LaneEvent(
            ts=42.5,
            type="transaction.ended",
            transaction_id="t-9",
            data={
                "items": 3,
                "scans": 3,
                "alerts": 0,
                "self_corrected": 0,
                "resolutions": {},
                "duration_s": 30.0,
                "seconds_per_item": 10.0,
                "unverified": False,
                "alert_types": {},
            },
        )
    )
    assert env.ts == "2023-11-14T22:13:20.250Z"
    assert env.mono_ts == 42.5 and env.transaction_id == "t-9"
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", iso_utc(0.0))


def test_event_ids_are_time_ordered_when_python_has_uuid7():
    ids = [new_event_id() for _ in range(3)]
    assert len(set(ids)) == 3
    if hasattr(uuid, "uuid7"):
        assert all(uuid.UUID(i).version == 7 for i in ids)
    else:
        assert all(uuid.UUID(i).version == 4 for i in ids)


@pytest.mark.parametrize(
    "data, why",
    [
        ({"alert_type": "multi_item"}, "alert_id"),  # required field missing
        ({"alert_id": 5, "alert_type": "multi_item"}, "alert_id"),  # wrong type
        ({"alert_id": "a", "alert_type": "x", "landed_ts": "soon"}, "landed_ts"),
    ],
)
def test_data_that_breaks_the_type_schema_is_refused_and_uses_no_seq(data, why):
    f = factory()
    with pytest.raises(InvalidPayload, match=why):
        f.build(LaneEvent(ts=1.0, type="alert.raised", data=data))
    assert f.build(LaneEvent(ts=1.0, type="transaction.started")).seq == 1


@pytest.mark.parametrize(
    "event",
    [
        LaneEvent(ts=1.0, type="transaction.started", data={"when": {1, 2}}),  # a set is not JSON
        LaneEvent(ts=1.0, type="transaction.started", data={"x": math.nan}),  # NaN is not JSON
        LaneEvent(ts=math.inf, type="transaction.started"),
    ],
)
def test_payloads_json_cannot_carry_are_refused(event):
    with pytest.raises(InvalidPayload):
        factory().build(event)


def test_validate_envelope_rejects_an_unknown_type_and_a_wrong_schema_version():
    good = factory().build(LaneEvent(ts=1.0, type="transaction.started")).to_dict()
    validate_envelope(good)
    with pytest.raises(InvalidPayload):
        validate_envelope({**good, "type": "lane.exploded"})
    with pytest.raises(InvalidPayload):
        validate_envelope({**good, "schema": "checkout/v0"})
