"""edge-app soak: one lane, sessions back to back, a broker restart, nothing lost."""

import json
import subprocess
import sys
from pathlib import Path

from edge_app.config import load_config
from edge_app.tools.soak import ProcessSample, sessions_in, slope_per_hour, soak

SUITE = Path(__file__).resolve().parents[1] / "scenarios" / "suite"


def test_sessions_back_to_back_through_a_broker_restart_lose_no_event(tmp_path):
    scenarios = [
        s for s in sessions_in(SUITE) if s.folder.name in ("suite-bypass", "suite-scanned")
    ]
    cfg = load_config(SUITE / "lane.yaml")
    report = soak(
        cfg,
        scenarios,
        tmp_path,
        session_hours=90 / 3600,
        restart_every_s=3.0,
        disk_mb=None,
        fill_every_s=60,
    )
    assert report["sessions"] >= 3 and report["session_s"] >= 90
    assert report["broker_restarts"] >= 1
    events = report["events"]
    assert (
        events["produced"] > 10 and events["lost"] == 0 and events["received"] == events["produced"]
    )
    assert report["outbox"]["depth_end"] == 0
    assert report["threads"]["last"] == report["threads"]["first"]  # sessions leave no thread


def test_the_slope_leaves_the_warm_up_out():
    samples = [
        ProcessSample(h * 3600.0, rss, 20, 5, 9, 0, 0)
        for h, rss in [(0.0, 100.0), (0.5, 180.0), (1.0, 200.0), (1.5, 201.0), (2.0, 202.0)]
    ]
    assert slope_per_hour(samples, "rss_mb", warmup=0.4) == 2.0
    assert slope_per_hour(samples[:2], "rss_mb") is None


def test_the_command_prints_a_json_report(tmp_path):
    out = tmp_path / "soak.json"
    cmd = [sys.executable, "-m", "edge_app", "soak", "--sessions", str(SUITE)]
    cmd += ["--session-hours", "0.001", "--work", str(tmp_path / "w"), "--json", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert summary["events"]["lost"] == 0 and "samples" not in summary
    assert json.loads(out.read_text())["samples"]
