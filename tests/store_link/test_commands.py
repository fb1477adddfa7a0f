"""Commands: only exact, bounded requests reach the app; everything else is answered with an error."""

from __future__ import annotations

import json
import random

import paho.mqtt.client as mqtt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from paho.mqtt.enums import CallbackAPIVersion

from edge_app.config import MqttConfig
from edge_app.events import PosEvent, StaffAction
from edge_app.store_link.client import StoreLink
from edge_app.store_link.commands import (
    COMMANDS,
    MAX_PAYLOAD_BYTES,
    CommandRequest,
    EngineRequest,
    dispatch,
    parse_request,
)
from edge_app.store_link.outbox import Outbox
from tests.store_link.conftest import Subscriber, wait_until

VALID = {
    "transaction/start": {"transaction_id": "T-1001"},
    "transaction/end": {"transaction_id": "T-1001", "outcome": "paid"},
    "payment/start": {"transaction_id": "T-1001"},
    "item/add": {"description": "Bananas loose", "quantity": 2},
    "item/void": {"transaction_id": "T-1001", "gtin": "05000112637939"},
    "review/clear": {"resolution": "item_added", "alert_id": "a-1"},
    "config/reload": {},
    "snapshot": {"reason": "staff asked"},
    "light/test": {"state": "intervention", "duration_ms": 500},
}


def payload(obj) -> bytes:
    return json.dumps(obj).encode()


def test_every_command_has_a_valid_example():
    assert set(VALID) == set(COMMANDS)


@pytest.mark.parametrize("command", sorted(VALID))
def test_valid_requests_reach_the_handler_with_defaults_filled(command):
    calls = []
    reply = dispatch(
        command,
        payload({"request_id": "r-1", **VALID[command]}),
        lambda name, args: calls.append((name, args)) or {"done": name},
    )
    body = json.loads(reply.body)
    assert reply.ok and body == {
        "request_id": "r-1",
        "status": "ok",
        "data": {"done": command},
        "error": None,
    }
    assert reply.command == command
    assert calls[0][0] == command and calls[0][1].request_id == "r-1"


def test_item_add_keeps_barcode_less_lines_and_optional_gtin():
    r = parse_request(
        "item/add",
        payload(
            {"request_id": "r", "description": "Croissant", "quantity": 3, "gtin": "2012345678906"}
        ),
    )
    assert (
        isinstance(r, CommandRequest)
        and r.args["gtin"] == "2012345678906"
        and r.args["quantity"] == 3
    )


def hostile_payloads(rng: random.Random) -> list[tuple[str, bytes]]:
    """1,000 (command, payload) pairs, none of them acceptable."""
    known = sorted(VALID)
    cases: list[tuple[str, bytes]] = []

    def add(command: str, raw: bytes) -> None:
        cases.append((command, raw))

    templates = [
        lambda c: b"{",  # truncated JSON
        lambda c: b"{'request_id': 'x'}",  # Python, not JSON
        lambda c: b"",  # empty
        lambda c: b"\xff\xfe\x00junk",  # not UTF-8
        lambda c: rng.randbytes(rng.randint(1, 300)),  # binary junk
        lambda c: rng.choice([b"[1,2]", b"42", b'"str"', b"null", b"true"]),  # not an object
        lambda c: payload({**VALID[c]}),  # no request_id
        lambda c: payload({"request_id": 17, **VALID[c]}),  # request_id wrong type
        lambda c: payload({"request_id": "r" * 5000, **VALID[c]}),  # huge request_id
        lambda c: payload({"request_id": "r", **VALID[c], "extra": 1}),  # unknown key
        lambda c: b"[" * 20_000 + b"]" * 20_000,  # 40 KB of nesting: RecursionError
        lambda c: (
            b'{"request_id":"r","x":' + b'"' + b"a" * (MAX_PAYLOAD_BYTES + 10) + b'"}'
        ),  # > 64 KiB
        lambda c: b'{"request_id":"r","duration_ms":NaN}',  # NaN is not JSON
    ]
    per_command_wrong = {
        "transaction/start": [
            {"transaction_id": 7},
            {"transaction_id": ""},
            {"transaction_id": "a b/c#"},
            {"transaction_id": "x" * 5000},
        ],
        "transaction/end": [
            {"transaction_id": "T", "outcome": "stolen"},
            {"transaction_id": ["T"]},
        ],
        "payment/start": [{"transaction_id": None}, {}],
        "item/add": [
            {"description": "x" * 4096},
            {"description": "Apples", "quantity": "3"},
            {"description": "Apples", "quantity": 0},
            {"description": "Apples", "quantity": 10**30},
            {"description": "Apples", "quantity": True},
            {"description": "", "quantity": 1},
            {"description": "Apples", "gtin": "12ab"},
            {"description": {"$ne": 1}},
        ],
        "item/void": [{"transaction_id": "T", "gtin": 5000112637939}, {"transaction_id": "T"}],
        "review/clear": [
            {"resolution": "shrug"},
            {"resolution": 1},
            {"resolution": "false_alarm", "alert_id": "a" * 999},
        ],
        "config/reload": [{"path": "/etc/shadow"}],
        "snapshot": [{"reason": "r" * 10_000}],
        "light/test": [
            {"state": "disco"},
            {"duration_ms": -5},
            {"duration_ms": 10**7},
            {"duration_ms": 1.5},
        ],
    }
    unknown = [
        "shutdown",
        "drop/tables",
        "transaction",
        "TRANSACTION/START",
        "light/test/now",
        "x" * 60,
        "review/clear2",
        "config",
    ]
    while len(cases) < 1000:
        kind = rng.random()
        if kind < 0.45:
            c = rng.choice(known)
            add(c, rng.choice(templates)(c))
        elif kind < 0.8:
            c = rng.choice(known)
            add(c, payload({"request_id": f"r-{len(cases)}", **rng.choice(per_command_wrong[c])}))
        else:
            c = rng.choice(known)
            add(rng.choice(unknown), payload({"request_id": f"r-{len(cases)}", **VALID[c]}))
    return cases


def test_hostile_payloads_are_all_refused_without_calling_the_handler():
    calls = []
    for command, raw in hostile_payloads(random.Random(5)):
        reply = dispatch(command, raw, lambda *a: calls.append(a) or {})
        body = json.loads(reply.body)
        assert (
            not reply.ok and body["status"] == "error" and body["data"] is None and body["error"]
        ), (
            command,
            raw[:80],
        )
        assert body["request_id"] is None or len(body["request_id"]) <= 128
    assert calls == []


@settings(max_examples=300, deadline=None)
@given(command=st.sampled_from(sorted(VALID) + ["nope", "a/b/c"]), raw=st.binary(max_size=400))
def test_arbitrary_bytes_never_raise_and_reach_the_handler_only_when_valid(command, raw):
    calls = []
    reply = dispatch(command, raw, lambda *a: calls.append(a) or {})
    json.loads(reply.body)
    assert bool(calls) == isinstance(parse_request(command, raw), CommandRequest) == reply.ok


@settings(max_examples=200, deadline=None)
@given(
    obj=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda kids: (
            st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=4)
        ),
        max_leaves=20,
    )
)
def test_arbitrary_json_on_a_known_command_is_validated_exactly(obj):
    parsed = parse_request("review/clear", json.dumps(obj).encode())
    if isinstance(parsed, CommandRequest):
        assert set(obj) <= {"request_id", "resolution", "alert_id", "staff_id"}
        assert obj["resolution"] in ("item_added", "false_alarm", "customer_left")


def test_a_handler_that_raises_or_returns_junk_becomes_an_error_response():
    def broken(name, args):
        raise RuntimeError("engine queue full")

    body = json.loads(dispatch("snapshot", payload({"request_id": "r"}), broken).body)
    assert body == {
        "request_id": "r",
        "status": "error",
        "data": None,
        "error": "RuntimeError: engine queue full",
    }
    body = json.loads(
        dispatch("snapshot", payload({"request_id": "r"}), lambda *a: ["not", "a", "dict"]).body
    )
    assert body["status"] == "error" and "expected dict" in body["error"]
    body = json.loads(
        dispatch("snapshot", payload({"request_id": "r"}), lambda *a: {"x": {1, 2}}).body
    )
    assert body["status"] == "error"


def test_1000_hostile_requests_over_mqtt_each_get_an_error_and_the_lane_stays_up(tmp_path, broker):
    calls = []
    link = StoreLink(
        MqttConfig(url=broker.url),
        "s1",
        "l1",
        Outbox(tmp_path / "o.db", 100, synchronous="NORMAL"),
        "boot",
        on_command=lambda name, args: calls.append((name, args)) or {"accepted": True},
    )
    kiosk = Subscriber(broker, "checkout/v1/s1/l1/response/#").start()
    attacker = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    try:
        link.start()
        wait_until(lambda: link.accepting_commands, 10, "lane subscribed to its requests")
        attacker.connect(broker.host, broker.port)
        attacker.loop_start()
        cases = hostile_payloads(random.Random(11))
        for command, raw in cases:
            attacker.publish(f"checkout/v1/s1/l1/request/{command}", raw, qos=1)
        wait_until(lambda: len(kiosk.snapshot()) >= 1000, 60, "1000 responses")
        bodies = kiosk.json()
        assert len(bodies) == 1000
        assert all(b["status"] == "error" for b in bodies)
        assert calls == [], "no hostile request may reach the app"
        assert link.connected and link.commands_rejected_total == 1000

        attacker.publish(
            "checkout/v1/s1/l1/request/review/clear",
            payload({"request_id": "staff-1", "resolution": "false_alarm"}),
            qos=1,
        )
        wait_until(lambda: len(kiosk.snapshot()) >= 1001, 10, "the valid response")
        last = kiosk.snapshot()[-1]
        assert last.topic == "checkout/v1/s1/l1/response/review/clear"
        assert json.loads(last.payload) == {
            "request_id": "staff-1",
            "status": "ok",
            "data": {"accepted": True},
            "error": None,
        }
        assert [c[0] for c in calls] == ["review/clear"]
    finally:
        attacker.disconnect()
        attacker.loop_stop()
        kiosk.stop()
        link.stop(timeout_s=0.5)


ENGINE_INPUTS = {
    "transaction/start": PosEvent(7.5, "transaction_start", "T-1001"),
    "transaction/end": PosEvent(7.5, "transaction_end", "T-1001"),
    "payment/start": PosEvent(7.5, "payment_start", "T-1001"),
    "item/add": PosEvent(7.5, "item_added", gtin="", quantity=2, description="Bananas loose"),
    "item/void": PosEvent(7.5, "void", "T-1001", gtin="05000112637939", quantity=1),
    "review/clear": StaffAction(7.5, "item_added", "a-1", source="mqtt"),
}


@pytest.mark.parametrize("command", sorted(VALID))
def test_engine_requests_become_the_engine_input_stamped_with_arrival(command):
    parsed = parse_request(command, payload({"request_id": "r-1", **VALID[command]}))
    assert isinstance(parsed, CommandRequest)
    if command not in ENGINE_INPUTS:
        assert not isinstance(parsed.request, EngineRequest)
        return
    assert isinstance(parsed.request, EngineRequest)
    assert parsed.request.to_input(7.5) == ENGINE_INPUTS[command]


def test_a_retained_request_is_refused_on_every_connect_not_re_run(tmp_path, broker):
    """A retained transaction/start was executed again on every reconnect of the lane, closing
    the live transaction and turning its pending items into alerts."""
    sender = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sender.connect(broker.host, broker.port)
    sender.loop_start()
    info = sender.publish(
        "checkout/v1/s1/l1/request/transaction/start",
        payload({"request_id": "stale-1", "transaction_id": "T-9"}),
        qos=1,
        retain=True,
    )
    info.wait_for_publish(5)
    calls = []
    kiosk = Subscriber(broker, "checkout/v1/s1/l1/response/#").start()
    try:
        for start in (1, 2):  # a lane start, then a restart: the broker hands it over each time
            link = StoreLink(
                MqttConfig(url=broker.url),
                "s1",
                "l1",
                Outbox(tmp_path / f"o{start}.db", 100, synchronous="NORMAL"),
                f"boot{start}",
                on_command=lambda name, req: calls.append(name) or {"queued": True},
            )
            link.start()
            try:
                wait_until(lambda lk=link: lk.accepting_commands, 10, "lane subscribed")
                wait_until(lambda n=start: len(kiosk.json()) >= n, 10, "the refusal")
            finally:
                link.stop(timeout_s=0.5)
        bodies = kiosk.json()
        assert calls == []
        assert bodies and all(
            b["status"] == "error" and b["request_id"] == "stale-1" and "retain" in b["error"]
            for b in bodies
        )
    finally:
        sender.publish("checkout/v1/s1/l1/request/transaction/start", b"", qos=1, retain=True)
        sender.disconnect()
        sender.loop_stop()
        kiosk.stop()
