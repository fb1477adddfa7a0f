"""The Lane shell: staff button, MQTT commands and the review light, on real parts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from gpiozero.pins.mock import MockFactory

from edge_app.config import load_config
from edge_app.devices.lights.console import ConsoleLight, ConsoleLightConfig
from edge_app.events import LightState, ZoneEvent
from edge_app.lane.app import Lane

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"


class FakeClock:
    """The lane's injected clock, moved by the test."""

    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def bypass(lane, clock, track=1, t0=0.0):
    for dt, z, a in [(0.0, "pick", "entered"), (0.5, "pick", "exited"), (2.0, "bag", "entered")]:
        clock.t = t0 + dt
        lane.submit(ZoneEvent(ts=clock.t, track_id=track, kind="item", zone=z, action=a, label="bottle"))
        lane.drain()


def tick_until(lane, clock, t):
    from edge_app.events import Tick

    while clock.t < t:
        clock.t = round(clock.t + 0.1, 3)
        lane.step(Tick(clock.t))


@pytest.fixture
def lane_factory(tmp_path):
    made = []

    def make(mqtt_url=None, button=False, **kw):
        cfg = load_config(DEMO)
        update = {"state_dir": str(tmp_path / "state"), "scanners": []}
        if button:
            from edge_app.config import ButtonConfig

            update["button"] = ButtonConfig(pin=22)
        if mqtt_url:
            from edge_app.config import MqttConfig

            update["mqtt"] = MqttConfig(url=mqtt_url)
        new = cfg.model_copy(update=update)
        clock = FakeClock()
        light = ConsoleLight(ConsoleLightConfig())
        lane = Lane(new, clock=clock, light=light, use_watchdog=False, keep_events=True, **kw)
        made.append(lane)
        return lane, clock, light

    yield make
    for lane in made:
        lane.stop()


def test_staff_button_clears_the_review(lane_factory):
    factory = MockFactory()
    lane, clock, light = lane_factory(button=True, pin_factory=factory)
    lane.start(camera=False)
    bypass(lane, clock)
    tick_until(lane, clock, 6.0)
    assert lane.engine.view.mode.value == "review_required"
    assert light.state == LightState.REVIEW
    pin = factory.pin(22)
    clock.t = 6.5
    pin.drive_low()  # pressed (pull-up wiring)
    time.sleep(0.05)
    clock.t = 6.7
    pin.drive_high()
    time.sleep(0.05)
    lane.drain()
    cleared = [e for e in lane.events_out if e.type == "alert.cleared"]
    assert cleared and cleared[0].data["resolution"] == "item_added"
    assert light.state == LightState.AVAILABLE
    assert light.history[-3:] == [LightState.ASSIST, LightState.REVIEW, LightState.AVAILABLE]


def test_mqtt_review_clear_and_kiosk_commands(lane_factory, broker):
    lane, clock, light = lane_factory(mqtt_url=broker.url)
    lane.start(camera=False)
    prefix = "checkout/v1/demo-store/lane-01/"
    got: dict[str, list] = {}
    kiosk = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="kiosk")
    kiosk.on_message = lambda c, u, m: got.setdefault(m.topic[len(prefix) :], []).append(
        json.loads(m.payload)
    )
    kiosk.connect(broker.host, broker.port)
    kiosk.subscribe(prefix + "response/#", qos=1)
    kiosk.subscribe(prefix + "state", qos=1)
    kiosk.loop_start()
    try:
        deadline = time.monotonic() + 10
        while (
            not lane.link.accepting_commands and time.monotonic() < deadline
        ):  # subscribed, not just connected
            time.sleep(0.05)
        kiosk.publish(
            prefix + "request/transaction/start",
            json.dumps({"request_id": "r1", "transaction_id": "K-77"}),
            qos=1,
        )
        _wait(lambda: "response/transaction/start" in got)
        lane.drain()
        assert lane.engine.tx.transaction_id == "K-77"
        bypass(lane, clock, t0=1.0)
        tick_until(lane, clock, 8.0)
        _wait(lambda: any(s["mode"] == "review_required" for s in got.get("state", [])))
        kiosk.publish(
            prefix + "request/review/clear",
            json.dumps({"request_id": "r2", "resolution": "false_alarm"}),
            qos=1,
        )
        _wait(lambda: "response/review/clear" in got)
        lane.drain()
        assert got["response/review/clear"][0]["status"] == "ok"
        assert lane.engine.view.mode.value == "in_transaction"
        _wait(lambda: got["state"][-1]["mode"] == "in_transaction")
        kiosk.publish(
            prefix + "request/review/clear", json.dumps({"request_id": "r3", "resolution": "bribe"}), qos=1
        )
        _wait(lambda: len(got.get("response/review/clear", [])) == 2)
        assert got["response/review/clear"][1]["status"] == "error"
    finally:
        kiosk.loop_stop()
        kiosk.disconnect()


def _wait(cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_lane_without_hands_never_claims_scan_without_item(lane_factory):
    lane, clock, _ = lane_factory()
    assert lane.cfg.models.hands.backend == "none"
    assert lane.engine.cfg.scan_without_item is False
    from edge_app.events import PosEvent, Scan

    lane.start(camera=False)
    lane.submit(PosEvent(ts=0.0, kind="transaction_start"))
    lane.submit(Scan(ts=0.5, scanner_id="flatbed", gtin="05449000000996"))
    lane.drain()
    tick_until(lane, clock, 5.0)
    assert not [e for e in lane.events_out if e.type == "alert.raised"]


def test_dead_camera_is_retried_without_starving_the_watchdog(tmp_path):
    """A camera that never opens is reported down; the loop and its pings go on."""
    import threading

    from edge_app.lane.health import Watchdog

    cfg = load_config(DEMO)
    cam = cfg.camera.model_copy(
        update={
            "source": str(tmp_path / "no-camera.mp4"),
            "reconnect_initial_ms": 50,
            "reconnect_max_ms": 100,
        }
    )
    new = cfg.model_copy(update={"state_dir": str(tmp_path / "state"), "scanners": [], "camera": cam})

    class Notes:
        def __init__(self):
            self.sent, self.at = [], []

        def notify(self, text):
            self.sent.append(text)
            self.at.append(time.monotonic())

    notes = Notes()
    lane = Lane(new, light=ConsoleLight(ConsoleLightConfig()), keep_events=True)
    lane.watchdog = Watchdog(notifier=notes, interval_s=0.05)
    stop = threading.Event()
    lane.start()
    runner = threading.Thread(target=lane.run, args=(stop,))
    runner.start()
    t0 = time.monotonic()
    time.sleep(6.5)  # past the frames heartbeat's 5 s limit
    stop.set()
    runner.join(5)
    lane.stop()
    assert lane.statuses["camera"].status == "down"
    late = [t for t, n in zip(notes.at, notes.sent) if n == "WATCHDOG=1" and t - t0 > 5.5]
    assert late, "pings stopped: a dead camera must be retried, not make systemd restart the lane"
    assert any(n.startswith("READY=1") for n in notes.sent)
