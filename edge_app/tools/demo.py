"""`edge-app demo` and `edge-app run`: a lane on a replay or on live devices.

The demo brings its own defaults: the bundled lane under calibration/demo/,
its recorded session, a private mosquitto when one is installed (else it says
where the events went), a temporary state folder. It prints each scan, each
decision, the light and what an MQTT subscriber receives, then scores the
alerts against the session's ground truth.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from edge_app.config import load_config
from edge_app.lane.live import ConsoleView, with_mqtt
from edge_app.redact import redact
from edge_app.tools.broker import Mosquitto

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]
DEMO_CONFIG = REPO / "calibration" / "demo" / "lane.yaml"
DEMO_SCENARIO = REPO / "calibration" / "demo" / "session-001"


def _private_broker(workdir: Path) -> Mosquitto | None:
    """A mosquitto of our own on a free port, or None when it is not installed or fails."""
    try:
        return Mosquitto(workdir / "broker").start(timeout=5.0)
    except RuntimeError:  # BrokerMissing, or it did not come up
        return None


class _Subscriber:
    """An MQTT client that shows what the store would receive from the lane."""

    def __init__(self, url: str, prefix: str, printer: ConsoleView):
        import paho.mqtt.client as mqtt

        from edge_app.store_link.client import parse_mqtt_url

        host, port, tls, user, password = parse_mqtt_url(url)
        self.received: list[dict] = []
        self.printer = printer
        self.client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-app-demo-viewer-{time.time_ns()}"
        )
        if user:
            self.client.username_pw_set(user, password)
        if tls:
            self.client.tls_set()
        self.prefix = prefix
        self.ready = threading.Event()
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        self.ready.wait(5)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe(self.prefix + "#", qos=1)
        self.ready.set()

    def _on_message(self, client, userdata, msg):
        topic = msg.topic[len(self.prefix) :]
        if topic == "events":
            env = json.loads(msg.payload)
            self.received.append(env)
            self.printer.line(
                f"          mqtt <- events  seq={env['seq']} {env['type']} {env['event_id'][:8]}…"
            )
        elif topic in ("availability", "state", "light") or topic.startswith("status/"):
            body = msg.payload.decode(errors="replace")
            if topic == "state":
                st = json.loads(body)
                body = f"mode={st['mode']} light={st['light']} open_alerts={st['open_alerts']}"
            self.printer.line(f"          mqtt <- {topic}: {body}")

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def run_replay(
    config_path: Path,
    scenario_dir: Path,
    *,
    mqtt_url: str | None = None,
    state_dir: str | None = None,
    realtime: bool = False,
    out: TextIO | None = None,
    private_broker: bool = True,
    show_mqtt: bool = True,
    json_out: str | None = None,
) -> int:
    from edge_app.devices.lights.console import ConsoleLight, ConsoleLightConfig
    from edge_app.tools.evaluate import score
    from edge_app.tools.replay import run_scenario
    from edge_app.tools.scenario import Scenario

    out = out or sys.stdout
    printer = ConsoleView(out)
    scenario = Scenario(scenario_dir)
    tmp = Path(tempfile.mkdtemp(prefix="edge-app-demo-"))
    cfg = load_config(config_path)
    cfg = with_mqtt(
        cfg, mqtt_url, state_dir or (str(tmp / "state") if cfg.state_dir == "var" else None)
    )
    broker = None
    if cfg.mqtt is None and private_broker:
        broker = _private_broker(tmp)
        if broker:
            cfg = with_mqtt(cfg, broker.url, None)
    printer.line(
        f"edge-app: lane {cfg.store_id}/{cfg.lane_id}, scenario {scenario.meta.name} "
        f"({scenario.meta.duration_s:.1f} s of video, {len(scenario.truth.journeys)} items)"
    )
    if cfg.mqtt:
        printer.line(
            f"edge-app: events go to {redact(cfg.mqtt.url)} under "
            f"{cfg.mqtt.topic_prefix}/{cfg.store_id}/{cfg.lane_id}/"
            + (" (a private mosquitto started for this demo)" if broker else "")
        )
    else:
        printer.line(
            "edge-app: no MQTT broker (mosquitto is not installed and no --mqtt-url): events are "
            "kept in the "
            f"outbox {cfg.state_path(cfg.outbox.path)} and shown here"
        )
    subscriber = None
    if cfg.mqtt and show_mqtt:
        try:
            subscriber = _Subscriber(
                cfg.mqtt.url, f"{cfg.mqtt.topic_prefix}/{cfg.store_id}/{cfg.lane_id}/", printer
            )
        except OSError as exc:
            printer.line(
                f"edge-app: cannot watch the broker ({exc}); the lane keeps events in its outbox"
            )
    light = ConsoleLight(ConsoleLightConfig(), stream=out)
    try:
        run = run_scenario(
            cfg,
            scenario,
            close_transaction=True,
            realtime=realtime,
            light=light,
            on_lane_event=printer.lane_event,
            on_status=printer.status,
            config_path=config_path,
        )
    finally:
        if subscriber:
            time.sleep(0.3)
            subscriber.stop()
        if broker:
            broker.stop()
    lane, result = run.lane, run.result

    s = score(scenario.truth, lane.events_out)
    alerts = [e for e in lane.events_out if e.type == "alert.raised"]
    scans = [e for e in lane.events_out if e.type == "scan.registered"]
    printer.line("")
    printer.line("== summary " + "=" * 60)
    printer.line(
        f"video: {result.frames} frames in {result.wall_s:.1f} s "
        f"({result.frames / max(result.wall_s, 1e-9):.1f} fps); "
        f"scanner bytes through the pty: {result.scanner_bytes}"
    )
    if result.video_problem:
        printer.line(f"WARNING: the video {result.video_problem}: the replay saw only part of it")
    printer.line(
        f"items in truth: {len(scenario.truth.journeys)}, scans: {len(scans)}, alerts: "
        f"{len(alerts)}"
    )
    for j in scenario.truth.journeys:
        hit = next((a for tj, a in s.caught if tj is j), None)
        verdict = (
            "ALERT " + hit.data["alert_type"]
            if hit
            else ("no alert" if j.label == "scanned" else "MISSED (no alert)")
        )
        printer.line(f"  {j.product:18s} truth={j.label:24s} -> {verdict}")
    for a in s.false_alerts:
        printer.line(
            f"  false alert: {a.data['alert_type']} on track #{a.data['track_id']} at {a.ts:.2f}s"
        )
    printer.line(f"precision {s.precision:.2f}, recall {s.recall:.2f}, false alerts {s.fp}")
    if subscriber:
        printer.line(
            f"mqtt: the subscriber received {len(subscriber.received)} of {len(lane.events_out)} "
            "events"
        )
    if lane.evidence is not None:
        printer.line(
            f"evidence clips: {lane.evidence.clips_written} in {cfg.state_path(cfg.evidence.dir)}"
        )
    if json_out:
        Path(json_out).write_text(
            json.dumps(
                {
                    "score": s.to_dict(),
                    "frames": result.frames,
                    "video_problem": result.video_problem,
                    "events": [e.to_dict() for e in lane.events_out],
                    "received": len(subscriber.received) if subscriber else None,
                },
                indent=2,
            )
        )
    return 0
