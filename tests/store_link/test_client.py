"""StoreLink against a real broker: schema-valid payloads, dead brokers, protocols, secrets."""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest
from jsonschema import Draft202012Validator

from edge_app.config import MqttConfig
from edge_app.events import EVENT_DATA, EVENT_TYPES, LaneEvent, LaneStatePayload, payload_schemas
from edge_app.store_link.client import StoreLink, parse_mqtt_url
from edge_app.store_link.outbox import Outbox
from tests.fixtures.broker import free_port
from tests.store_link.conftest import Subscriber, wait_until

SAMPLE_DATA = {
    "scan.registered": {
        "scanner_id": "flatbed",
        "gtin": "05000112637939",
        "symbology": "EAN-13",
        "quantity": 2,
    },
    "journey.matched": {
        "journey_id": "j-1",
        "track_id": 4,
        "label": "bottle",
        "gtin": "05000112637939",
        "over_scanner": True,
        "landed_ts": 12.5,
    },
    "journey.pending": {
        "alert_id": "a-1",
        "alert_type": "missed_scan.bypass",
        "journey_id": "j-2",
        "landed_ts": 13.0,
    },
    "alert.raised": {
        "alert_id": "a-1",
        "alert_type": "missed_scan.bypass",
        "journey_id": "j-2",
        "track_id": 7,
        "label": "can",
        "after_payment": False,
        "landed_ts": 13.0,
    },
    "alert.self_corrected": {"alert_id": "a-2", "alert_type": "missed_scan.pass_over"},
    "alert.cleared": {
        "alert_id": "a-1",
        "alert_type": "missed_scan.bypass",
        "resolution": "item_added",
    },
    "transaction.ended": {
        "items": 5,
        "scans": 4,
        "alerts": 1,
        "self_corrected": 1,
        "resolutions": {"item_added": 1},
        "duration_s": 61.2,
        "seconds_per_item": 12.2,
        "unverified": False,
        "alert_types": {"missed_scan.bypass": 1},
    },
}
STATE = LaneStatePayload(
    mode="review_required",
    light="review",
    transaction_id="t-1",
    open_alerts=1,
    unverified=False,
    boot_id="boot-s",
    version="0.1.0",
    config_hash="0123456789ab",
)


def make_link(tmp_path, url: str, **kwargs) -> StoreLink:
    cfg_kwargs = kwargs.pop("cfg", {})
    return StoreLink(
        MqttConfig(url=url, **cfg_kwargs),
        "s1",
        "l1",
        Outbox(tmp_path / "o.db", 1000, synchronous="NORMAL"),
        "boot-s",
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        **kwargs,
    )


def test_every_published_payload_validates_against_the_schema(tmp_path, broker):
    schemas = payload_schemas()
    hq = Subscriber(broker, "checkout/v1/s1/l1/#").start()
    link = make_link(tmp_path, broker.url)
    try:
        link.start()
        wait_until(lambda: link.connected, 10, "connected")
        for event_type in EVENT_TYPES:
            link.publish_event(
                LaneEvent(
                    ts=10.0,
                    type=event_type,
                    transaction_id="t-1",
                    data=SAMPLE_DATA.get(event_type, {}),
                )
            )
        link.publish_state(STATE)
        link.publish_status("camera", "degraded", "12 fps, expected 30")
        wait_until(
            lambda: (
                len(hq.payloads("/events")) == len(EVENT_TYPES) and hq.payloads("/status/camera")
            ),
            10,
            "all events and the status",
        )
        envelopes = hq.json("/events")
        for env in envelopes:
            Draft202012Validator(schemas["envelope"]).validate(env)
            if env["type"] in EVENT_DATA:
                Draft202012Validator(schemas[f"data/{env['type']}"]).validate(env["data"])
        assert [e["type"] for e in envelopes] == list(EVENT_TYPES)
        assert {e["store_id"] + "/" + e["lane_id"] for e in envelopes} == {"s1/l1"}
        Draft202012Validator(schemas["state"]).validate(hq.json("/state")[0])
        Draft202012Validator(schemas["status"]).validate(hq.json("/status/camera")[0])
        assert set(SAMPLE_DATA) == set(EVENT_DATA), "a new data type needs a sample here"
    finally:
        link.stop(timeout_s=0.5)
        hq.stop()


def test_start_never_blocks_on_a_dead_broker_and_events_wait_in_the_outbox(tmp_path):
    port = free_port()  # nothing listens here
    states = []
    link = make_link(
        tmp_path, f"mqtt://127.0.0.1:{port}", on_connection=lambda up, why: states.append(up)
    )
    t0 = time.monotonic()
    link.start()
    for i in range(20):
        link.publish_event(LaneEvent(ts=float(i), type="transaction.started"))
    assert time.monotonic() - t0 < 5.0  # generous: only catches a blocking connect
    assert not link.connected and link.outbox_depth() == 20
    assert link.publish_stats({"fps": 30.0}) is False
    link.stop(timeout_s=0.2)
    assert True not in states


def test_an_unresolvable_host_or_bad_tls_file_does_not_raise(tmp_path):
    link = make_link(
        tmp_path,
        "mqtts://no-such-host.invalid:8883",
        cfg={"tls": {"ca_file": "/nonexistent/ca.pem"}},
    )
    link.start()  # tls_set fails on the missing CA file: logged, lane runs on
    link.publish_event(LaneEvent(ts=1.0, type="transaction.started"))
    assert link.outbox_depth() == 1
    link.stop(timeout_s=0.1)


def test_mqtt_311_fallback_delivers_events_and_answers_commands(tmp_path, broker):
    hq = Subscriber(broker, "checkout/v1/s1/l1/#").start()
    link = make_link(
        tmp_path, broker.url, cfg={"protocol": "3.1.1"}, on_command=lambda n, a: {"seen": n}
    )
    try:
        link.start()
        wait_until(lambda: link.accepting_commands, 10, "3.1.1 connection")
        link.publish_event(LaneEvent(ts=1.0, type="transaction.started", transaction_id="t"))
        hq.client.publish("checkout/v1/s1/l1/request/snapshot", b'{"request_id": "r"}', qos=1)
        wait_until(
            lambda: hq.payloads("/events") and hq.payloads("/response/snapshot"),
            10,
            "event and response",
        )
        assert json.loads(hq.payloads("/response/snapshot")[0])["data"] == {"seen": "snapshot"}
        wait_until(lambda: link.outbox_depth() == 0, 5, "PUBACK")
    finally:
        link.stop(timeout_s=0.5)
        hq.stop()


def test_stats_carry_outbox_depth_and_status_since_only_changes_with_the_status(tmp_path, broker):
    clock = [1_700_000_000.0]
    hq = Subscriber(broker, "checkout/v1/s1/l1/#").start()
    link = make_link(tmp_path, broker.url, wall_clock=lambda: clock[0])
    try:
        link.start()
        wait_until(lambda: link.connected, 10, "connected")
        assert link.publish_stats({"fps": 29.5, "uptime_s": 12}) is True
        link.publish_status("light", "ok", "usb tower")
        clock[0] += 60
        link.publish_status("light", "ok", "usb tower, retried")
        clock[0] += 60
        link.publish_status("light", "down", "unplugged")
        wait_until(
            lambda: len(hq.payloads("/status/light")) == 3 and hq.payloads("/stats"), 10, "messages"
        )
        stats = hq.json("/stats")[0]
        assert (
            stats["fps"] == 29.5
            and stats["outbox_depth"] == 0
            and stats["outbox_dropped_total"] == 0
        )
        since = [s["since"] for s in hq.json("/status/light")]
        assert since[0] == since[1] != since[2]
        with pytest.raises(ValueError):
            link.publish_status("light", "fine")
        with pytest.raises(ValueError):
            link.publish_raw("events", b"forged")
    finally:
        link.stop(timeout_s=0.5)
        hq.stop()


@pytest.mark.parametrize(
    "url, expected",
    [
        ("mqtt://broker", ("broker", 1883, False, None, None)),
        ("mqtts://broker", ("broker", 8883, True, None, None)),
        ("mqtt://lane:pw@10.1.2.3:1884/", ("10.1.2.3", 1884, False, "lane", "pw")),
        ("mqtts://u%40x:p%3Aw@h:1", ("h", 1, True, "u@x", "p:w")),
    ],
)
def test_parse_mqtt_url(url, expected):
    assert parse_mqtt_url(url) == expected


@pytest.mark.parametrize(
    "url", ["http://broker", "mqtt://", "mqtt://h:99999", "mqtt://h/path", "broker:1883"]
)
def test_parse_mqtt_url_refuses(url):
    with pytest.raises(ValueError):
        parse_mqtt_url(url)


def test_credentials_never_reach_the_log(tmp_path, broker, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-Pa55"
    link = make_link(
        tmp_path, f"mqtt://lane:{secret}@127.0.0.1:{broker.port}", cfg={"password": secret}
    )
    link.start()
    wait_until(lambda: link.connected, 10, "connected (anonymous broker ignores the password)")
    link.stop(timeout_s=0.5)
    bad = make_link(tmp_path / "b", f"mqtt://lane:{secret}@127.0.0.1:{free_port()}")
    bad.start()
    time.sleep(0.3)
    bad.stop(timeout_s=0.1)
    assert secret not in caplog.text
    assert secret not in repr(MqttConfig(url="mqtt://h", password=secret))


def test_connecting_to_a_port_that_is_not_mqtt_keeps_retrying_quietly(tmp_path):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        link = make_link(tmp_path, f"mqtt://127.0.0.1:{srv.getsockname()[1]}")
        link.start()
        link.publish_event(LaneEvent(ts=1.0, type="transaction.started"))
        time.sleep(0.3)
        assert not link.connected and link.outbox_depth() == 1
        link.stop(timeout_s=0.1)
