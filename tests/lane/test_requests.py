"""Requests through a real broker into a Lane: once per id, within each command's rate, no threads."""

from __future__ import annotations

import json
import queue
import threading
from pathlib import Path

import jsonschema
import pytest

from edge_app.config import MqttConfig, load_config
from edge_app.devices.lights.console import ConsoleLight, ConsoleLightConfig
from edge_app.events import LightState, PosEvent
from edge_app.lane.app import Lane, LightTestAsked
from edge_app.store_link.gate import DEFAULT_LIMITS
from edge_app.tools.asyncapi import build_document
from tests.store_link.conftest import Subscriber, wait_until
from tests.store_link.test_commands import VALID

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"
PREFIX = "checkout/v1/demo-store/lane-01/"


class FrozenClock:
    """The lane clock stands still while a burst arrives: no bucket refills during it."""

    def __init__(self, t: float = 50.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def live_lane(tmp_path, broker):
    """A started Lane on the broker, and a kiosk subscribed to its responses."""
    cfg = load_config(DEMO)
    cfg = cfg.model_copy(
        update={
            "state_dir": str(tmp_path / "state"),
            "scanners": [],
            "mqtt": MqttConfig(url=broker.url),
        }
    )
    clock = FrozenClock()
    light = ConsoleLight(ConsoleLightConfig())
    lane = Lane(cfg, clock=clock, light=light, use_watchdog=False, config_path=DEMO)
    kiosk = Subscriber(broker, PREFIX + "response/#")
    try:
        lane.start(camera=False)
        kiosk.start()
        wait_until(lambda: lane.link.accepting_commands, 10, "the lane subscribed to requests")
        yield lane, clock, light, kiosk
    finally:
        kiosk.stop()
        lane.stop()


def send(kiosk: Subscriber, command: str, request_id: str) -> None:
    body = json.dumps({"request_id": request_id, **VALID[command]}).encode()
    kiosk.client.publish(PREFIX + "request/" + command, body, qos=1)


def queued(lane: Lane) -> list:
    items = []
    while True:
        try:
            items.append(lane.inbox.get_nowait())
        except queue.Empty:
            return items


def test_a_repeated_request_id_is_executed_once_and_answered_twice_alike(live_lane):
    """A QoS 1 retry of the same request was executed twice (a second basket opened)."""
    lane, _, _, kiosk = live_lane
    for command in ("transaction/start", "item/add"):
        for _ in range(2):
            send(kiosk, command, f"k-{command}")
    wait_until(lambda: len(kiosk.snapshot()) >= 4, 10, "four responses")
    for command in ("transaction/start", "item/add"):
        bodies = kiosk.payloads("response/" + command)
        assert len(bodies) == 2 and bodies[0] == bodies[1]
        assert json.loads(bodies[0])["status"] == "ok"
    inputs = queued(lane)
    assert [(i.kind, i.transaction_id) for i in inputs if isinstance(i, PosEvent)] == [
        ("transaction_start", "T-1001"),
        ("item_added", ""),
    ]
    assert lane.stats()["requests"]["duplicates_total"] == 2


def test_1000_light_tests_play_one_pattern_and_the_rest_are_refused_and_counted(live_lane):
    """light/test at 1,000/s made 2,009 threads; without threads each one was still played."""
    lane, clock, light, kiosk = live_lane
    threads = sorted(t.name for t in threading.enumerate())
    for i in range(1000):
        send(kiosk, "light/test", f"t-{i}")
    wait_until(lambda: len(kiosk.snapshot()) >= 1000, 60, "1000 responses")
    bodies = kiosk.json("response/light/test")
    assert [b["status"] for b in bodies].count("ok") == DEFAULT_LIMITS["light/test"].burst == 1
    refused = [b for b in bodies if b["status"] == "error"]
    assert len(refused) == 999 and all(b["error"].startswith("rate limited") for b in refused)
    stats = lane.stats()["requests"]
    assert stats["rate_limited"]["light/test"] == 999 and stats["refused_total"] == 999

    items = queued(lane)
    assert [i for i in items if isinstance(i, LightTestAsked)] == [LightTestAsked(clock.t)]
    for item in items:
        lane.inbox.put(item)
    shown = len(light.history)
    lane.drain()
    for _ in range(30):
        clock.t = round(clock.t + 0.25, 3)
        lane.periodic()
    assert light.history[shown:] == [  # one pattern (from available: shown), then the lane's own
        LightState.ASSIST,
        LightState.REVIEW,
        LightState.INTERVENTION,
        LightState.FAULT,
        LightState.AVAILABLE,
    ]
    assert sorted(t.name for t in threading.enumerate()) == threads


def test_a_burst_of_every_request_starts_no_thread_and_each_command_runs_its_burst(live_lane):
    lane, clock, _, kiosk = live_lane
    threads = sorted(t.name for t in threading.enumerate())
    count = threading.active_count()
    per_command = 40
    for i in range(per_command):
        for command in sorted(VALID):
            send(kiosk, command, f"{command}-{i}")
    total = per_command * len(VALID)
    wait_until(lambda: len(kiosk.snapshot()) >= total, 60, f"{total} responses")
    assert threading.active_count() == count
    stats = lane.stats()["requests"]
    schema = build_document()["components"]["schemas"]["stats"]["properties"]["requests"]
    jsonschema.validate(stats, schema)  # what docs/asyncapi.yaml promises
    for command, limit in DEFAULT_LIMITS.items():
        oks = [b["status"] for b in kiosk.json("response/" + command)].count("ok")
        assert oks == min(per_command, limit.burst), command
        assert stats["rate_limited"][command] == per_command - oks
    lane.drain()
    for _ in range(40):
        clock.t = round(clock.t + 0.25, 3)
        lane.periodic()
    # the lane thread cut one evidence clip for the accepted snapshots (they join one clip);
    # its writer waits for frames that never come in this test, and is the only new thread
    assert sorted(t.name for t in threading.enumerate()) == sorted([*threads, "evidence"])
