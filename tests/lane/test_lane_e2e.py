"""The whole lane, end to end, as separate processes against a real mosquitto."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jsonschema
import yaml

from edge_app.events import payload_schemas

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"
SESSION = REPO / "calibration" / "demo" / "session-001"
PREFIX = "checkout/v1/demo-store/lane-01"
ENV = {**os.environ, "YOLO_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def sub(broker, topic, *extra):
    return subprocess.Popen(
        [
            "mosquitto_sub",
            "-h",
            broker.host,
            "-p",
            str(broker.port),
            "-q",
            "1",
            "-v",
            "-t",
            topic,
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_demo_command_flags_the_missed_items_and_nothing_else():
    r = subprocess.run(
        [sys.executable, "-m", "edge_app", "demo"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ENV,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    assert "ALERT     missed_scan.pass_over" in out
    assert "ALERT     missed_scan.bypass" in out
    assert out.count("ALERT     ") == 2
    assert "false alert:" not in out
    assert "precision 1.00, recall 1.00, false alerts 0" in out
    assert "[light] " in out and "mqtt <- events" in out


def test_replay_delivers_schema_valid_events_to_mosquitto_sub(broker, tmp_path):
    watcher = sub(broker, f"{PREFIX}/events")
    time.sleep(0.5)
    report = tmp_path / "report.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_app",
            "run",
            "--config",
            str(DEMO),
            "--replay",
            str(SESSION),
            "--mqtt-url",
            broker.url,
            "--state-dir",
            str(tmp_path / "state"),
            "--json",
            str(report),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ENV,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    time.sleep(1.0)
    watcher.terminate()
    lines = watcher.communicate(timeout=10)[0].splitlines()
    envelopes = [json.loads(line.split(" ", 1)[1]) for line in lines]
    schema = payload_schemas()["envelope"]
    for env in envelopes:
        jsonschema.validate(env, schema)
    types = [e["type"] for e in envelopes]
    assert types.count("alert.raised") == 2
    assert [e["seq"] for e in envelopes] == sorted({e["seq"] for e in envelopes})
    score = json.loads(report.read_text())["score"]
    assert score["tp"] == 2 and score["fp"] == 0 and score["fn"] == 0
    truth = yaml.safe_load((SESSION / "truth.yaml").read_text())
    missed = {j["label"] for j in truth["journeys"] if j["label"] != "scanned"}
    assert {e["data"]["alert_type"] for e in envelopes if e["type"] == "alert.raised"} == missed


def test_availability_turns_offline_when_the_lane_is_killed(broker, tmp_path):
    lane = yaml.safe_load(DEMO.read_text())
    lane["camera"]["source"] = str(SESSION / "video.mp4")
    lane["models"]["products"]["path"] = str(REPO / "models" / "yolo11n-coco-int8-320.onnx")
    lane["scanners"][0]["port"] = str(tmp_path / "no-such-scanner")  # unplugged: reported, retried
    lane["state_dir"] = str(tmp_path / "state")
    cfg = tmp_path / "lane.yaml"
    cfg.write_text(yaml.safe_dump(lane))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge_app", "run", "--config", str(cfg), "--mqtt-url", broker.url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=REPO,
        env=ENV,
    )
    try:
        online = _retained(broker, f"{PREFIX}/availability", want="online", timeout=60)
        assert online == "online"
        status = _retained(broker, f"{PREFIX}/status/scanner/flatbed", want=None, timeout=10)
        assert json.loads(status)["status"] == "down"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _retained(broker, f"{PREFIX}/availability", want="offline", timeout=30) == "offline"
    finally:
        if proc.poll() is None:
            proc.kill()


def _retained(broker, topic, want, timeout):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        r = subprocess.run(
            [
                "mosquitto_sub",
                "-h",
                broker.host,
                "-p",
                str(broker.port),
                "-t",
                topic,
                "-C",
                "1",
                "-W",
                "2",
                "--retained-only",
            ],
            capture_output=True,
            text=True,
        )
        value = r.stdout.strip() or None
        if value is not None and (want is None or value == want):
            return value
        time.sleep(0.3)
    return value
