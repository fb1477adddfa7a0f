"""The HQ monitor: FleetView folding (pure) and ``monitor --once N --json`` on a real broker."""

from __future__ import annotations

import json

from edge_app.config import MqttConfig
from edge_app.events import LaneEvent, LaneStatePayload
from edge_app.store_link.client import StoreLink
from edge_app.store_link.outbox import Outbox
from edge_app.tools import monitor
from edge_app.tools.monitor import FleetView, render_table
from tests.fixtures.broker import free_port
from tests.store_link.conftest import wait_until

P = "checkout/v1/s1"


def envelope(event_id: str, type_: str, data: dict, ts: str = "2024-05-01T09:30:15.000Z") -> bytes:
    return json.dumps({"event_id": event_id, "type": type_, "ts": ts, "data": data}).encode()


def test_rows_fold_state_status_stats_and_events_per_lane():
    v = FleetView()
    v.fold(f"{P}/l1/availability", b"online")
    v.fold(
        f"{P}/l1/state",
        json.dumps(
            {
                "mode": "review_required",
                "light": "review",
                "transaction_id": "t-1",
                "open_alerts": 2,
                "unverified": False,
                "boot_id": "b",
            }
        ).encode(),
    )
    v.fold(f"{P}/l1/status/camera", b'{"component": "camera", "status": "ok"}')
    v.fold(f"{P}/l1/status/scanner/flatbed", b'{"component": "scanner/flatbed", "status": "down"}')
    v.fold(f"{P}/l1/stats", b'{"fps": 14.5, "outbox_depth": 12}')
    v.fold(f"{P}/l1/events", envelope("e1", "alert.raised", {"alert_type": "missed_scan.bypass"}))
    v.fold(f"{P}/l1/events", envelope("e2", "transaction.ended", {"items": 8, "alerts": 1}))
    v.fold(f"{P}/l1/events", envelope("e3", "transaction.ended", {"items": 12, "alerts": 1}))
    v.fold(f"{P}/l0/availability", b"offline")
    v.fold(f"{P}/l0/light/tower", b"fault")
    rows = v.rows()
    assert [r.lane_id for r in rows] == ["l0", "l1"]
    r = rows[1]
    assert (r.availability, r.mode, r.light, r.open_alerts) == (
        "online",
        "review_required",
        "review",
        2,
    )
    assert (r.fps, r.outbox_depth, r.last_alert) == (14.5, 12, "missed_scan.bypass")
    assert r.alerts_per_100_items == 10.0  # 2 alerts over 20 items
    assert r.health == "scanner/flatbed:down"
    assert (
        rows[0].alerts_per_100_items is None and rows[0].health == "" and rows[0].light == "fault"
    )


def test_duplicate_events_from_at_least_once_delivery_count_once():
    v = FleetView()
    for _ in range(3):
        v.fold(f"{P}/l1/events", envelope("same", "transaction.ended", {"items": 10, "alerts": 1}))
    assert v.rows()[0].items == 10 and v.rows()[0].alerts == 1


def test_junk_and_foreign_topics_are_ignored_not_fatal():
    v = FleetView(store_id="s1")
    assert not v.fold(f"{P}/l1/state", b"\xff\xfe")
    assert not v.fold(f"{P}/l1/stats", b"[1, 2]")
    assert not v.fold(f"{P}/l1/events", b'{"no": "event_id"}')
    assert not v.fold("checkout/v1/s2/l1/availability", b"online")  # other store
    assert not v.fold("elsewhere/s1/l1/availability", b"online")
    assert not v.fold(f"{P}/l1/request/snapshot", b"{}")
    assert v.ignored >= 5
    assert "(no lanes seen yet)" not in render_table(
        v.rows()
    )  # l1 got a row from the first messages


def test_table_has_one_line_per_lane_and_the_header():
    v = FleetView()
    v.fold(f"{P}/l1/availability", b"online")
    v.fold(f"{P}/l2/availability", b"stopped")
    text = render_table(v.rows())
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["LANE", "AVAIL", "MODE"]
    assert lines[1].startswith("s1/l1") and "online" in lines[1]
    assert lines[2].startswith("s1/l2") and "stopped" in lines[2]
    assert render_table([]).endswith("(no lanes seen yet)")


def test_once_json_against_a_real_broker(tmp_path, broker, capsys):
    link = StoreLink(
        MqttConfig(url=broker.url),
        "s1",
        "lane-9",
        Outbox(tmp_path / "o.db", 100, synchronous="NORMAL"),
        "boot-m",
    )
    link.start()
    try:
        wait_until(lambda: link.connected, 10, "lane connected")
        link.publish_state(
            LaneStatePayload(
                mode="in_transaction",
                light="available",
                transaction_id="t-5",
                open_alerts=0,
                unverified=True,
                boot_id="boot-m",
                version="0.1.0",
                config_hash="x",
            )
        )
        link.publish_status("camera", "degraded", "low light")
        link.publish_event(
            LaneEvent(
                ts=1.0,
                type="alert.raised",
                transaction_id="t-5",
                data={"alert_id": "a1", "alert_type": "multi_item"},
            )
        )
        wait_until(lambda: link.outbox_depth() == 0, 10, "event acknowledged")
        # the retained state/status/availability are what a monitor started now sees
        code = monitor.main(
            [
                "--host",
                broker.host,
                "--port",
                str(broker.port),
                "--store",
                "s1",
                "--once",
                "0.8",
                "--json",
            ]
        )
    finally:
        link.stop(timeout_s=0.5)
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1
    row = rows[0]
    assert (row["lane_id"], row["availability"], row["mode"], row["unverified"]) == (
        "lane-9",
        "online",
        "in_transaction",
        True,
    )
    assert row["health"] == "camera:degraded"


def test_once_reports_an_unreachable_broker_with_exit_code_2(capsys):
    code = monitor.main(
        ["--host", "127.0.0.1", "--port", str(free_port()), "--once", "0.3", "--json"]
    )
    assert code == 2
    assert "could not reach" in capsys.readouterr().err


def test_escape_sequences_in_payloads_are_shown_not_sent_to_the_terminal():
    """A lane (or anyone with its credentials) set the HQ terminal's title with an OSC sequence."""
    v = FleetView()
    v.fold(f"{P}/l1/availability", b"online\x1b]0;pwned\x07")
    v.fold(f"{P}/l1/state", json.dumps({"mode": "idle\x1b[2J", "light": "off"}).encode())
    text = render_table(v.rows())
    assert "\x1b" not in text and "\x07" not in text
    assert "\\x1b]0;pwned\\x07" in text and "idle\\x1b[2J" in text
