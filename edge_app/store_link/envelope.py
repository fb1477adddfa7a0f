"""Wrap a LaneEvent into the ``events`` envelope and check it against the schema.

Pure apart from the injected wall clock and id source. The envelope carries
what a consumer needs to cope with at-least-once delivery: ``event_id`` to
drop duplicates, ``boot_id`` + ``seq`` to see order and gaps per boot.

>>> f = EnvelopeFactory("store-042", "lane-03", boot_id="b1", wall_clock=lambda: 0.0)
>>> env = f.build(LaneEvent(ts=12.5, type="transaction.started", transaction_id="t-1"))
>>> env.seq, env.ts, env.mono_ts
(1, '1970-01-01T00:00:00.000Z', 12.5)
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import time
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

from edge_app.events import (
    SCHEMA_VERSION,
    ComponentStatusPayload,
    Envelope,
    LaneEvent,
    LaneStatePayload,
    payload_schemas,
)


class InvalidPayload(ValueError):
    """A payload the contract does not allow: a bug in the caller, never sent."""


def new_event_id() -> str:
    """UUIDv7 (time-ordered, index friendly) where Python has it, else UUIDv4."""
    make = getattr(uuid, "uuid7", None) or uuid.uuid4
    return str(make())


def iso_utc(wall_s: float) -> str:
    """ISO-8601 UTC with milliseconds and a Z, e.g. 2024-05-01T09:30:00.123Z."""
    stamp = _dt.datetime.fromtimestamp(wall_s, tz=_dt.timezone.utc)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@cache
def _validators() -> dict[str, Any]:
    from jsonschema import Draft202012Validator

    return {name: Draft202012Validator(schema) for name, schema in payload_schemas().items()}


def validate(schema_name: str, payload: dict) -> None:
    """Raise InvalidPayload when ``payload`` breaks ``payload_schemas()[schema_name]``."""
    validator = _validators().get(schema_name)
    if validator is None:
        raise InvalidPayload(f"no schema named {schema_name!r}")
    errors = sorted(validator.iter_errors(payload), key=lambda e: list(e.path))
    if errors:
        where = "/".join(str(p) for p in errors[0].path) or "(top)"
        raise InvalidPayload(f"{schema_name}: {where}: {errors[0].message[:300]}")


def validate_envelope(payload: dict) -> None:
    """The envelope, and its ``data`` against the type's schema when there is one."""
    validate("envelope", payload)
    data_schema = f"data/{payload['type']}"
    if data_schema in _validators():
        validate(data_schema, payload["data"])


def to_json(payload: dict) -> bytes:
    """Compact JSON; NaN/Infinity are refused because JSON has no such numbers."""
    try:
        return json.dumps(
            payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        ).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidPayload(f"not JSON-serialisable: {exc}") from None


class EnvelopeFactory:
    """Numbers the events of one boot: seq 1, 2, 3 … in the order they are built.

    Not thread-safe by itself: the caller builds and stores under one lock so
    that outbox order equals seq order.
    """

    def __init__(
        self,
        store_id: str,
        lane_id: str,
        boot_id: str,
        *,
        wall_clock: Callable[[], float] = time.time,
        new_id: Callable[[], str] = new_event_id,
    ):
        self.store_id = store_id
        self.lane_id = lane_id
        self.boot_id = boot_id
        self._wall_clock = wall_clock
        self._new_id = new_id
        self.seq = 0

    def build(self, event: LaneEvent) -> Envelope:
        """The next envelope; raises InvalidPayload (and uses no seq) if it breaks the schema."""
        if not math.isfinite(event.ts):
            raise InvalidPayload(f"event ts must be finite, got {event.ts!r}")
        envelope = Envelope(
            schema=SCHEMA_VERSION,
            event_id=self._new_id(),
            boot_id=self.boot_id,
            seq=self.seq + 1,
            ts=iso_utc(self._wall_clock()),
            mono_ts=float(event.ts),
            store_id=self.store_id,
            lane_id=self.lane_id,
            type=event.type,
            transaction_id=event.transaction_id,
            data=dict(event.data),
        )
        payload = envelope.to_dict()
        validate_envelope(payload)
        to_json(payload)
        self.seq += 1
        return envelope


def state_json(state: LaneStatePayload) -> bytes:
    payload = state.to_dict()
    validate("state", payload)
    return to_json(payload)


def status_json(status: ComponentStatusPayload) -> bytes:
    payload = status.to_dict()
    validate("status", payload)
    return to_json(payload)
