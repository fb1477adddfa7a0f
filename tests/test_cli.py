"""The console command as a technician meets it (real subprocesses)."""

import subprocess
import sys
from pathlib import Path

from tests.test_config import DEMO, MINIMAL

REPO = Path(__file__).resolve().parent.parent


def edge_app(*args, **kw):
    return subprocess.run(
        [sys.executable, "-m", "edge_app", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        **kw,
    )


def test_version_and_help():
    r = edge_app("--version")
    assert r.returncode == 0 and r.stdout.startswith("edge-app ")
    h = edge_app("--help")
    assert h.returncode == 0 and "warning" not in h.stderr, h.stderr
    for cmd in ("demo", "run", "validate-config", "eval", "predict", "scanner", "monitor"):
        assert cmd in h.stdout


def test_validate_config_ok():
    r = edge_app("validate-config", str(DEMO))
    assert r.returncode == 0, r.stderr
    assert "ok (lane demo-store/lane-01" in r.stdout


def test_validate_config_prints_one_clear_line_per_problem(tmp_path):
    cases = {
        "typo.yaml": (
            MINIMAL.replace("lane_id: l1", "lane_id: l1\nzonez: {}"),
            "zonez: unknown key",
        ),
        "polygon.yaml": (
            MINIMAL.replace("scan: [[0.4, 0], [0.6, 0], [0.6, 1]]", "scan: [[0.4, 0], [0.6, 0]]"),
            "zones.scan: a zone polygon needs at least 3 points",
        ),
        "nocamera.yaml": (
            MINIMAL.replace('camera:\n  source: "0"\n', ""),
            "camera: required key is missing",
        ),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        r = edge_app("validate-config", "--no-files", str(path))
        assert r.returncode != 0
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"{path}:") and expected in lines[0]


def test_validate_config_reports_missing_model_file(tmp_path):
    path = tmp_path / "lane.yaml"
    path.write_text(MINIMAL)
    r = edge_app("validate-config", str(path))
    assert r.returncode == 1 and "models.products.path: file not found" in r.stderr
