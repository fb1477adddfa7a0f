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
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional, TextIO

from edge_app.config import LaneConfig, MqttConfig, load_config
from edge_app.events import DeviceStatus, LaneEvent

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parent.parent
DEMO_CONFIG = REPO / "calibration" / "demo" / "lane.yaml"
DEMO_SCENARIO = REPO / "calibration" / "demo" / "session-001"


def _with_mqtt(cfg: LaneConfig, url: Optional[str], state_dir: Optional[str]) -> LaneConfig:
    """The config with --mqtt-url and the state folder applied (overrides win)."""
    update: dict = {}
    if url:
        base = cfg.mqtt.model_dump() if cfg.mqtt else {}
        base["url"] = url
        update["mqtt"] = MqttConfig(**base)
    if state_dir:
        update["state_dir"] = state_dir
    if not update:
        return cfg
    new = cfg.model_copy(update=update)
    object.__setattr__(new, "_base_dir", getattr(cfg, "_base_dir", "."))
    return new


class _Printer:
    """What the demo shows as it runs: one line per thing a person cares about."""

    def __init__(self, out: TextIO, t0: float = 0.0):
        self.out = out
        self.t0 = t0  # live lanes show seconds since start, not since boot
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)

    def lane_event(self, e: LaneEvent) -> None:
        d = e.data
        t = f"[{e.ts - self.t0:6.2f}s]"
        if e.type == "scan.registered":
            self.line(f"{t} SCAN      {d['gtin']} ({d['symbology']}) on {d['scanner_id']}")
        elif e.type == "journey.matched":
            where = "over the scanner" if d["over_scanner"] else "around the scanner"
            self.line(f"{t} OK        {d['label']} #{d['track_id']} bagged, matched to {d['gtin']} ({where})")
        elif e.type == "journey.pending":
            self.line(f"{t} NUDGE     {d['alert_type']}: {d['label']} #{d['track_id']} in the bag, no scan yet "
                      f"- kiosk: 'please scan that item'")  # fmt: skip
        elif e.type == "alert.raised":
            self.line(f"{t} ALERT     {d['alert_type']}: {d['label']} #{d['track_id']} (alert {d['alert_id']}) "
                      f"- staff review, evidence clip kept")  # fmt: skip
        elif e.type == "alert.self_corrected":
            self.line(f"{t} FIXED     {d['alert_type']} on #{d['track_id']}: {d['detail']}")
        elif e.type == "alert.cleared":
            self.line(f"{t} CLEARED   {d['alert_id']} ({d['resolution']})")
        elif e.type.startswith("transaction."):
            self.line(f"{t} {e.type.split('.', 1)[1].upper():9s} transaction {e.transaction_id}")

    def status(self, s: DeviceStatus) -> None:
        self.line(f"[{s.ts - self.t0:6.2f}s] STATUS    {s.component}: {s.status} {s.detail}")


def _private_broker(workdir: Path):
    """A mosquitto of our own on a free port, or None when it is not installed."""
    exe = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if not exe:
        return None
    import socket
    import subprocess

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    proc = subprocess.Popen([exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"mqtt://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    return None


class _Subscriber:
    """An MQTT client that shows what the store would receive from the lane."""

    def __init__(self, url: str, prefix: str, printer: _Printer):
        import paho.mqtt.client as mqtt

        from edge_app.store_link.client import parse_mqtt_url

        host, port, tls, user, password = parse_mqtt_url(url)
        self.received: list[dict] = []
        self.printer = printer
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"edge-app-demo-viewer-{time.time_ns()}")
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
        topic = msg.topic[len(self.prefix):]
        if topic == "events":
            env = json.loads(msg.payload)
            self.received.append(env)
            self.printer.line(f"          mqtt <- events  seq={env['seq']} {env['type']} {env['event_id'][:8]}…")
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
    mqtt_url: Optional[str] = None,
    state_dir: Optional[str] = None,
    realtime: bool = False,
    out: Optional[TextIO] = None,
    private_broker: bool = True,
    show_mqtt: bool = True,
    json_out: Optional[str] = None,
) -> int:
    from edge_app.app import Lane
    from edge_app.devices.lights.console import ConsoleLight, ConsoleLightConfig
    from edge_app.evaluate import score
    from edge_app.replay import ScenarioClock, replay
    from edge_app.sim.scenario import Scenario

    out = out or sys.stdout
    printer = _Printer(out)
    scenario = Scenario(scenario_dir)
    tmp = Path(tempfile.mkdtemp(prefix="edge-app-demo-"))
    cfg = load_config(config_path)
    cfg = _with_mqtt(cfg, mqtt_url, state_dir or (str(tmp / "state") if cfg.state_dir == "var" else None))
    broker = None
    if cfg.mqtt is None and private_broker:
        broker = _private_broker(tmp)
        if broker:
            cfg = _with_mqtt(cfg, broker[1], None)
    printer.line(f"edge-app: lane {cfg.store_id}/{cfg.lane_id}, scenario {scenario.meta.name} "
                 f"({scenario.meta.duration_s:.1f} s of video, {len(scenario.truth.journeys)} items)")  # fmt: skip
    if cfg.mqtt:
        printer.line(f"edge-app: events go to {cfg.mqtt.url} under {cfg.mqtt.topic_prefix}/{cfg.store_id}/{cfg.lane_id}/"
                     + (" (a private mosquitto started for this demo)" if broker else ""))  # fmt: skip
    else:
        printer.line("edge-app: no MQTT broker (mosquitto is not installed and no --mqtt-url): events are kept in the "
                     f"outbox {cfg.state_path(cfg.outbox.path)} and shown here")  # fmt: skip
    subscriber = None
    if cfg.mqtt and show_mqtt:
        try:
            subscriber = _Subscriber(cfg.mqtt.url, f"{cfg.mqtt.topic_prefix}/{cfg.store_id}/{cfg.lane_id}/", printer)
        except OSError as exc:
            printer.line(f"edge-app: cannot watch the broker ({exc}); the lane keeps events in its outbox")
    clock = ScenarioClock()
    light = ConsoleLight(ConsoleLightConfig(), stream=out)
    lane = Lane(cfg, clock=clock, light=light, on_lane_event=printer.lane_event, on_status=printer.status,
                config_path=config_path, use_watchdog=False, keep_events=True)  # fmt: skip
    try:
        result = replay(lane, scenario, clock, realtime=realtime)
        if lane.engine.tx is not None:
            from edge_app.events import PosEvent

            lane.submit(PosEvent(clock(), "transaction_end", lane.engine.tx.transaction_id))
            lane.drain()
    finally:
        lane.stop()
        if subscriber:
            time.sleep(0.3)
            subscriber.stop()
        if broker:
            broker[0].terminate()
            broker[0].wait(5)

    s = score(scenario.truth, lane.events_out)
    alerts = [e for e in lane.events_out if e.type == "alert.raised"]
    scans = [e for e in lane.events_out if e.type == "scan.registered"]
    printer.line("")
    printer.line("== summary " + "=" * 60)
    printer.line(f"video: {result.frames} frames in {result.wall_s:.1f} s ({result.frames / max(result.wall_s, 1e-9):.1f} fps); "
                 f"scanner bytes through the pty: {result.scanner_bytes}")  # fmt: skip
    printer.line(f"items in truth: {len(scenario.truth.journeys)}, scans: {len(scans)}, alerts: {len(alerts)}")
    for j in scenario.truth.journeys:
        hit = next((a for tj, a in s.caught if tj is j), None)
        verdict = "ALERT " + hit.data["alert_type"] if hit else ("no alert" if j.label == "scanned" else "MISSED (no alert)")
        printer.line(f"  {j.product:18s} truth={j.label:24s} -> {verdict}")
    for a in s.false_alerts:
        printer.line(f"  false alert: {a.data['alert_type']} on track #{a.data['track_id']} at {a.ts:.2f}s")
    printer.line(f"precision {s.precision:.2f}, recall {s.recall:.2f}, false alerts {s.fp}")
    if subscriber:
        printer.line(f"mqtt: the subscriber received {len(subscriber.received)} of {len(lane.events_out)} events")
    if lane.evidence is not None:
        printer.line(f"evidence clips: {lane.evidence.clips_written} in {cfg.state_path(cfg.evidence.dir)}")
    if json_out:
        Path(json_out).write_text(json.dumps({"score": s.to_dict(), "frames": result.frames, "events": [e.to_dict() for e in lane.events_out],
                                              "received": len(subscriber.received) if subscriber else None}, indent=2))  # fmt: skip
    return 0


def run_live(config_path: Path, mqtt_url: Optional[str] = None, out: Optional[TextIO] = None) -> int:
    """`edge-app run --config`: the lane on its real camera and scanners until SIGTERM."""
    from edge_app.app import Lane

    printer = _Printer(out or sys.stdout, t0=time.monotonic())
    cfg = _with_mqtt(load_config(config_path), mqtt_url, None)
    lane = Lane(cfg, on_lane_event=printer.lane_event, on_status=printer.status, config_path=config_path)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    lane.start()
    printer.line(f"edge-app: lane {cfg.store_id}/{cfg.lane_id} running (boot {lane.boot_id})")
    try:
        lane.run(stop)
    finally:
        lane.stop()
    return 0
