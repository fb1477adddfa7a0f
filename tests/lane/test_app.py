"""The Lane shell: staff button, MQTT commands and the review light, on real parts."""

from __future__ import annotations

import dataclasses
import itertools
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
        lane.submit(
            ZoneEvent(ts=clock.t, track_id=track, kind="item", zone=z, action=a, label="bottle")
        )
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
            prefix + "request/review/clear",
            json.dumps({"request_id": "r3", "resolution": "bribe"}),
            qos=1,
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
    new = cfg.model_copy(
        update={"state_dir": str(tmp_path / "state"), "scanners": [], "camera": cam}
    )

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
    late = [
        t for t, n in zip(notes.at, notes.sent, strict=False) if n == "WATCHDOG=1" and t - t0 > 5.5
    ]
    assert late, "pings stopped: a dead camera must be retried, not make systemd restart the lane"
    assert any(n.startswith("READY=1") for n in notes.sent)


# ------------------------------------------------- requests on the lane thread


_REQUEST_IDS = itertools.count(1)


def request(command, **fields):
    """A fresh request each call (the lane runs a repeated request_id only once)."""
    from edge_app.store_link.commands import COMMANDS

    return COMMANDS[command](request_id=f"r-{next(_REQUEST_IDS)}", **fields)


def test_every_request_is_an_engine_input_or_has_a_handler(lane_factory):
    from edge_app.store_link.commands import COMMANDS, EngineRequest

    lane, _, _ = lane_factory()
    engine_inputs = {name for name, model in COMMANDS.items() if issubclass(model, EngineRequest)}
    assert engine_inputs | set(lane.request_handlers) == set(COMMANDS)
    assert not engine_inputs & set(lane.request_handlers)


def test_engine_requests_are_stamped_with_the_clock_when_they_arrive(lane_factory):
    from edge_app.events import PosEvent, StaffAction

    lane, clock, _ = lane_factory()
    clock.t = 3.25
    assert lane.on_command(
        "transaction/start", request("transaction/start", transaction_id="T-1")
    ) == {"queued": True}
    clock.t = 4.5
    lane.on_command("review/clear", request("review/clear", resolution="false_alarm"))
    clock.t = 9.0  # drained later: the times stay those of arrival
    assert lane.inbox.get_nowait() == PosEvent(3.25, "transaction_start", "T-1")
    assert lane.inbox.get_nowait() == StaffAction(4.5, "false_alarm", "", source="mqtt")


def test_snapshot_is_answered_from_the_view_the_lane_thread_published(lane_factory):
    from edge_app.events import PosEvent

    lane, clock, _ = lane_factory()
    lane.start(camera=False)
    lane.submit(PosEvent(0.0, "transaction_start", "T-9"))
    engine, lane.engine = lane.engine, None  # a request thread that read the engine would fail here
    try:
        before = lane.on_command("snapshot", request("snapshot"))
    finally:
        lane.engine = engine
    assert before["mode"] == "idle" and before["transaction_id"] == ""  # not drained: not seen yet
    lane.drain()
    engine, lane.engine = lane.engine, None
    try:
        after = lane.on_command("snapshot", request("snapshot"))
    finally:
        lane.engine = engine
    view = {k: after[k] for k in ("mode", "transaction_id", "open_alerts", "pending")}
    assert {**view, "statuses": after["statuses"], "frames": after["frames"]} == {
        "mode": "in_transaction",
        "transaction_id": "T-9",
        "open_alerts": 0,
        "pending": 0,
        "statuses": {k: v.status for k, v in lane.statuses.items()},
        "frames": 0,
    }
    assert after["statuses"]["model"] == "ok"
    with pytest.raises(dataclasses.FrozenInstanceError):
        lane.snapshot.mode = None  # frozen: replaced whole, never changed


def test_a_burst_of_light_tests_starts_no_thread_and_plays_one_test(lane_factory):
    """1,000 requests once made 2,009 threads; now one runs (the rest are over light/test's rate)
    and the lane thread plays one pattern, then its own light."""
    import threading

    from edge_app.store_link.commands import dispatch

    lane, clock, light = lane_factory()
    lane.start(camera=False)
    bypass(lane, clock)
    tick_until(lane, clock, 6.0)
    assert light.state == LightState.REVIEW
    shown = len(light.history)
    threads = threading.active_count()
    for i in range(1000):
        reply = dispatch(
            "light/test", json.dumps({"request_id": f"t-{i}"}).encode(), lane.on_command
        )
        if i == 0:
            assert json.loads(reply.body) == {
                "request_id": "t-0",
                "status": "ok",
                "data": {"queued": True},
                "error": None,
            }
        else:
            assert json.loads(reply.body)["error"].startswith("rate limited: light/test")
    assert threading.active_count() == threads
    lane.drain()
    while clock.t < 12.0:
        clock.t = round(clock.t + 0.25, 3)
        if clock.t == 8.0:  # a second test in the middle of the first joins it (past the gate)
            lane.request_handlers["light/test"](request("light/test"))
            lane.drain()
        lane.periodic()
    assert light.history[shown:] == [
        LightState.AVAILABLE,
        LightState.ASSIST,
        LightState.REVIEW,
        LightState.INTERVENTION,
        LightState.FAULT,
        LightState.REVIEW,  # the lane's own light again
    ]
    assert threading.active_count() == threads


def test_the_lane_light_waits_for_the_end_of_a_light_test(lane_factory):
    lane, clock, light = lane_factory()
    lane.start(camera=False)
    lane.on_command("light/test", request("light/test"))
    lane.drain()
    bypass(lane, clock, t0=0.5)  # in the bag at 2.5: pending (the shopper nudge) from 3.1
    clock.t = 3.0
    lane.periodic()
    assert light.state == LightState.INTERVENTION
    tick_until(lane, clock, 4.5)  # the lane's own light changes during the test ...
    assert lane.engine.view.pending == 1
    assert light.state == LightState.INTERVENTION  # ... the lamps stay the test's
    clock.t = 5.0
    lane.periodic()
    assert light.state == LightState.ASSIST  # the test is over: the lane's light is back


# ------------------------------------------------------------- frame timings


def test_frame_timings_are_handed_out_after_each_frame(lane_factory):
    import numpy as np

    from edge_app.lane.camera import Frame

    timings = []
    lane, clock, _ = lane_factory(on_frame_timed=timings.append)
    lane.start(camera=False)
    for i in range(3):
        clock.t = i / 10
        lane.process_frame(Frame(np.zeros((240, 320, 3), np.uint8), clock.t, i))
    assert [t.ts for t in timings] == [0.0, 0.1, 0.2]
    for t in timings:
        assert t.frame_ms > 0 and t.perception_ms > 0 and t.publish_ms >= 0 and t.evidence_ms >= 0
        assert t.frame_ms >= t.perception_ms + t.evidence_ms
        assert t.engine_ms == max(0.0, t.frame_ms - t.perception_ms - t.publish_ms - t.evidence_ms)


def test_a_lane_without_the_timing_hook_keeps_no_stage_clock(lane_factory, monkeypatch):
    import numpy as np

    import edge_app.lane.app as app
    from edge_app.lane.camera import Frame

    def no_clock():
        raise AssertionError("a lane without on_frame_timed must not time its stages")

    monkeypatch.setattr(app, "StageClock", no_clock)
    lane, clock, _ = lane_factory()
    lane.start(camera=False)
    lane.process_frame(Frame(np.zeros((240, 320, 3), np.uint8), 0.0, 0))
    assert lane.perception.frames == 1


def test_a_gpio_light_on_a_box_without_gpio_is_reported_not_fatal(tmp_path):
    """`light: {type: gpio}` on a box with no GPIO killed the process at start; the lane can still
    decide and publish, so it runs without a light and says so on status/light."""
    pytest.importorskip("gpiozero")
    from gpiozero import Device
    from gpiozero.exc import BadPinFactory

    try:  # the test needs a box without GPIO (this CI box); on a Pi it has nothing to prove
        Device._default_pin_factory().close()
        pytest.skip("this machine has a GPIO pin factory")
    except BadPinFactory:
        pass
    cfg = load_config(DEMO).with_overrides(
        {"state_dir": str(tmp_path / "state"), "scanners": [], "light": {"type": "gpio", "red": 17}}
    )
    lane = Lane(cfg, clock=FakeClock(), use_watchdog=False)
    try:
        lane.drain()
        status = lane.statuses["light"]
        assert status.status == "down" and "gpio light cannot start" in status.detail
        assert "BadPinFactory" in status.detail
        lane.step(ZoneEvent(ts=0.1, track_id=1, kind="item", zone="pick", action="entered"))
    finally:
        lane.stop()


def test_an_rtsp_password_never_reaches_status_camera(tmp_path):
    """A dead RTSP camera is reported on status/camera (retained, read by staff tools and HQ)
    and on the console: the URL's password must be in neither."""
    shown = []
    cfg = load_config(DEMO).with_overrides(
        {
            "state_dir": str(tmp_path / "state"),
            "scanners": [],
            "camera.source": "rtsp://admin:s3cret-pw@127.0.0.1:9/stream1",
            "camera.reconnect_initial_ms": 50,
            "camera.reconnect_max_ms": 100,
        }
    )
    lane = Lane(cfg, use_watchdog=False, on_status=shown.append)
    try:
        lane.start_camera()  # a real OpenCV open of the URL: connection refused
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "camera" not in lane.statuses:
            lane.drain()
            time.sleep(0.02)
    finally:
        lane.stop()
    camera = lane.statuses["camera"]
    assert camera.status == "down"
    assert camera.detail == "cannot open rtsp://admin:***@127.0.0.1:9/stream1"
    assert not any("s3cret-pw" in s.detail for s in shown)


def test_evidence_health_reaches_status_evidence_and_its_counts_reach_stats(lane_factory):
    lane, clock, _ = lane_factory()
    lane.evidence.on_status("degraded", "clip A1 not kept: disk full: 0.1 MB free on /x")
    lane.drain()
    assert lane.statuses["evidence"].status == "degraded"
    assert "disk full" in lane.statuses["evidence"].detail
    assert lane.stats()["evidence"] == {
        "clips_written": 0,
        "clips_failed": 0,
        "clips_deleted": 0,
        "clips_expired": 0,
    }
