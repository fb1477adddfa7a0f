"""Nothing is lost: broker restarts, kill -9 of the lane, the Last Will."""

from __future__ import annotations

import json
import sqlite3

from edge_app.config import MqttConfig
from edge_app.events import LaneEvent
from edge_app.store_link.client import StoreLink
from edge_app.store_link.outbox import Outbox
from tests.fixtures.broker import Mosquitto
from tests.store_link.conftest import (
    Subscriber,
    retained,
    wait_retained,
    wait_until,
)


def persistent_broker(tmp_path) -> Mosquitto:
    """A broker that keeps sessions and queued messages across restarts (saved on SIGTERM).

    The subscriber stands for HQ: with a persistent session (clean_start
    False + session expiry) the broker queues what arrives while HQ is away,
    and ``persistence true`` keeps that queue across the broker restart.
    """
    store = tmp_path / "broker-db"
    store.mkdir()
    return Mosquitto(
        tmp_path / "broker",
        extra_conf=(
            "allow_anonymous true\n"
            f"persistence true\npersistence_location {store}/\n"
            "max_queued_messages 0\nmax_queued_bytes 0\n"
        ),
    )


def first_occurrences(envelopes: list[dict]) -> list[dict]:
    seen: set[str] = set()
    out = []
    for env in envelopes:
        if env["event_id"] not in seen:
            seen.add(env["event_id"])
            out.append(env)
    return out


def test_ten_thousand_events_through_two_broker_restarts_arrive_complete_and_in_order(tmp_path):
    broker = persistent_broker(tmp_path).start()
    hq = Subscriber(
        broker, "checkout/v1/s1/l1/events", client_id="hq-test", persistent=True
    ).start()
    outbox = Outbox(
        tmp_path / "outbox.db", 50_000, synchronous="NORMAL"
    )  # NORMAL: 10k fsyncs are slow
    link = StoreLink(
        MqttConfig(url=broker.url),
        "s1",
        "l1",
        outbox,
        "boot-a",
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )
    try:
        link.start()
        wait_until(lambda: link.connected, 10, "lane connected")
        sent: list[str] = []

        def publish(n: int) -> None:
            for _ in range(n):
                env = link.publish_event(
                    LaneEvent(
                        ts=float(len(sent)),
                        type="transaction.started",
                        transaction_id=f"t-{len(sent)}",
                    )
                )
                sent.append(env.event_id)

        publish(2500)
        broker.stop()  # mid-flight: part of the window never got its PUBACK
        publish(2500)  # broker down: all of these wait in the outbox
        assert outbox.depth() >= 2500
        broker.start()
        publish(2500)
        broker.restart()  # second outage, again while draining
        publish(2500)

        wait_until(
            lambda: len({e["event_id"] for e in hq.json()}) >= 10_000 and outbox.depth() == 0,
            90,
            "all 10,000 events at HQ and an empty outbox",
        )
        received = hq.json()
        assert {e["event_id"] for e in received} == set(sent)
        assert {e["boot_id"] for e in received} == {"boot-a"}
        seqs = [e["seq"] for e in first_occurrences(received)]
        assert seqs == list(range(1, 10_001)), "first arrivals must be in seq order with no gaps"
        assert outbox.dropped_total == 0
    finally:
        link.stop(timeout_s=0.5)
        hq.stop()
        broker.stop()


def test_kill_9_with_500_events_in_the_outbox_then_all_500_arrive(tmp_path, broker, lane_processes):
    db = tmp_path / "lane" / "outbox.db"
    broker.stop()  # the store broker is down while the lane writes
    first = lane_processes(broker.url, db, boot_id="boot-1", publish=500).start()
    first.wait_line("PUT 500")
    first.kill9()

    with sqlite3.connect(db) as con:
        on_disk = [
            json.loads(p)["event_id"]
            for (p,) in con.execute("SELECT payload FROM outbox ORDER BY id")
        ]
    assert len(on_disk) == 500

    broker.start()
    hq = Subscriber(broker, "checkout/v1/s1/l1/events").start()
    try:
        second = lane_processes(broker.url, db, boot_id="boot-2", publish=0).start()
        wait_until(
            lambda: {e["event_id"] for e in hq.json()} >= set(on_disk),
            30,
            "the 500 events after restart",
        )
        received = first_occurrences(hq.json())
        assert [e["seq"] for e in received] == list(range(1, 501))
        assert {e["boot_id"] for e in received} == {"boot-1"}
        assert second.stop() == 0
    finally:
        hq.stop()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0


def test_availability_offline_by_last_will_online_after_restart_stopped_after_stop(
    tmp_path, broker, lane_processes
):
    topic = "checkout/v1/s1/l1/availability"
    db = tmp_path / "outbox.db"
    lane = lane_processes(broker.url, db, boot_id="b1").start()
    lane.wait_line("CONNECTED")
    wait_retained(broker, topic, b"online")
    lane.kill9()
    wait_retained(broker, topic, b"offline")

    lane = lane_processes(broker.url, db, boot_id="b2").start()
    lane.wait_line("CONNECTED")
    wait_retained(broker, topic, b"online")
    assert lane.stop() == 0
    wait_retained(broker, topic, b"stopped")
    assert retained(broker, topic) == b"stopped"  # a clean stop sends no Will afterwards


def test_state_and_status_are_republished_after_the_broker_lost_its_retained_store(
    tmp_path, broker
):
    from edge_app.events import LaneStatePayload

    outbox = Outbox(tmp_path / "outbox.db", 100, synchronous="NORMAL")
    link = StoreLink(
        MqttConfig(url=broker.url),
        "s1",
        "l1",
        outbox,
        "boot-x",
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )
    link.start()
    try:
        wait_until(lambda: link.connected, 10, "connected")
        link.publish_state(
            LaneStatePayload(
                mode="idle",
                light="available",
                transaction_id="",
                open_alerts=0,
                unverified=False,
                boot_id="boot-x",
                version="0.1.0",
                config_hash="abc",
            )
        )
        link.publish_status("scanner/flatbed", "down", "no such port")
        link.publish_raw("light", "available", retain=True)
        wait_until(
            lambda: retained(broker, "checkout/v1/s1/l1/light") == b"available", 5, "first publish"
        )
        broker.restart()  # persistence false: every retained message is gone
        wait_until(lambda: link.connected, 10, "reconnected")
        wait_retained(broker, "checkout/v1/s1/l1/availability", b"online")
        state = json.loads(retained(broker, "checkout/v1/s1/l1/state") or b"{}")
        status = json.loads(retained(broker, "checkout/v1/s1/l1/status/scanner/flatbed") or b"{}")
        assert state["mode"] == "idle" and state["boot_id"] == "boot-x"
        assert status["status"] == "down" and status["detail"] == "no such port"
        assert retained(broker, "checkout/v1/s1/l1/light") == b"available"
    finally:
        link.stop(timeout_s=0.5)
