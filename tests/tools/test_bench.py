"""`edge-app bench`: the report's shape and plumbing (speed itself is never asserted)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import types
from pathlib import Path

from edge_app.perception.pipeline import GATE_MAX_SKIP_S

REPO = Path(__file__).resolve().parents[2]
SESSION = REPO / "calibration" / "demo" / "session-001"
ENV = {**os.environ, "YOLO_OFFLINE": "1"}

KEYS = (
    "fps_pipeline",
    "fps_model_only",
    "ratio_to_model_bound",
    "peak_rss_mb",
    "idle_cpu_pct",
    "startup_s",
)
STAGES = ("decode", "gate", "preprocess", "detect", "track", "engine", "publish")


def test_bench_prints_the_report_as_json(tmp_path):
    out = tmp_path / "bench.json"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_app",
            "bench",
            "--max-frames",
            "40",
            "--repeat",
            "1",
            "--idle-s",
            "1",
            "--idle-warmup-s",
            "1",
            "--no-ungated",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=ENV,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads(r.stdout)
    assert json.loads(out.read_text()) == report
    for key in KEYS:
        assert report[key] is not None and report[key] >= 0, key
    assert report["frames"] == 40
    assert 0 < report["detector_runs"] <= 40
    for stage in STAGES:
        assert {"p50", "p95"} <= set(report["stages_ms"][stage]), stage
        assert report["stages_ms"][stage]["p95"] >= report["stages_ms"][stage]["p50"] >= 0
    assert report["machine"]["nproc"] == os.cpu_count()
    idle = report["idle"]
    # a still lane: the detector only runs on the first frames and then as the safety net
    assert idle["frames"] > 0
    assert idle["detector_runs"] <= 1 + idle["seconds"] / GATE_MAX_SKIP_S
    assert "fps_ultralytics" not in report  # only with --baseline


def test_ultralytics_baseline_runs_in_another_interpreter(tmp_path):
    from edge_app.tools import bench

    fake = tmp_path / "fake-python"
    record = tmp_path / "argv.json"
    fake.write_text(
        "#!/bin/sh\n"
        f"printf '%s\\n' \"$@\" > {record}\n"
        "echo 'some log line'\n"
        'echo \'{"fps": 12.5, "frames": 320}\'\n'
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    args = types.SimpleNamespace(
        baseline_python=str(fake), scenario=str(SESSION), repeat=2, max_frames=None
    )
    cfg = bench.lane_config(None, SESSION, state_dir=str(tmp_path / "state"))
    out = bench.ultralytics_baseline(args, cfg)
    assert out == {"fps": 12.5, "frames": 320}
    argv = record.read_text().split("\n")
    assert argv[0].endswith("scripts/bench_ultralytics.py")
    assert argv[argv.index("--model") + 1] == str(
        cfg.resolve(cfg.models.products.path)
    )  # the lane's own model
    assert argv[argv.index("--conf") + 1] == "0.1"
    assert (
        argv[argv.index("--classes") + 1] == "39,41,46,47,49,75"
    )  # bottle, cup, banana, apple, orange, vase


def test_the_edge_process_never_loads_torch_or_ultralytics():
    code = (
        "import sys, edge_app.tools.bench, edge_app.cli; edge_app.cli.build_parser();"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'ultralytics')))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=ENV, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_percentiles_of_nothing_are_zero():
    from edge_app.tools.bench import pct

    assert pct([]) == {"p50": 0.0, "p95": 0.0, "n": 0}
    assert pct([1.0, 2.0, 3.0])["p50"] == 2.0
