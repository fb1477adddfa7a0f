"""`edge-app sim import`: a recording converts into a scenario that replays exactly like its original."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from edge_app.cli import main
from edge_app.sim.importer import ImportError_, read_capture, sniff_format
from edge_app.tools.scenario import Scenario

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO / "tests" / "scenarios" / "suite"
ORIGINAL = SUITE / "suite-pass-over"
EPOCH = 1_764_700_000.0  # the capture's own clock: UNIX seconds


def _recording(tmp: Path) -> dict:
    """What a store would hand over: a video, a timestamped serial log, a kiosk log, a truth file."""
    rec = tmp / "recording"
    rec.mkdir()
    shutil.copyfile(ORIGINAL / "video.mp4", rec / "lane01.mp4")
    sc = Scenario(ORIGINAL)
    lines = ["# serial capture of the flatbed, UNIX time, raw bytes as hex"]
    lines += [f"{EPOCH + c.t:.3f} {c.hex}" for c in sc.scanner_chunks]
    (rec / "serial.log").write_text("\n".join(lines) + "\n")
    pos = [json.loads(x) for x in (ORIGINAL / "pos.jsonl").read_text().splitlines() if x.strip()]
    (rec / "kiosk.jsonl").write_text(
        "".join(json.dumps({**r, "t": round(EPOCH + r["t"], 3)}) + "\n" for r in pos)
    )
    truth = yaml.safe_load(
        (ORIGINAL / "truth.yaml").read_text()
    )  # "hand-written": the same journeys
    (rec / "truth.yaml").write_text(yaml.safe_dump(truth, sort_keys=False))
    return {
        "video": rec / "lane01.mp4",
        "serial": rec / "serial.log",
        "pos": rec / "kiosk.jsonl",
        "truth": rec / "truth.yaml",
    }


def _replay(lane: Path, folder: Path, tmp: Path, tag: str) -> list[dict]:
    """`edge-app run --config LANE --replay DIR` in its own process, as a technician runs it."""
    out = tmp / f"{tag}.json"
    cmd = [
        sys.executable,
        "-m",
        "edge_app",
        "run",
        "--config",
        str(lane),
        "--replay",
        str(folder),
        "--json",
        str(out),
        "--state-dir",
        str(tmp / f"state-{tag}"),
    ]
    r = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "YOLO_OFFLINE": "1"},
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(out.read_text())["events"]


def test_imported_recording_replays_with_the_same_events_as_its_original(tmp_path, capsys):
    rec = _recording(tmp_path)
    out = tmp_path / "imported"
    rc = main(
        [
            "sim",
            "import",
            "--video",
            str(rec["video"]),
            "--serial",
            str(rec["serial"]),
            "--truth",
            str(rec["truth"]),
            "--lane",
            str(SUITE / "lane.yaml"),
            "--out",
            str(out),
            "--start",
            str(EPOCH),
            "--pos",
            str(rec["pos"]),
        ]
    )
    assert rc == 0, capsys.readouterr().err
    imported, original = Scenario(out), Scenario(ORIGINAL)
    assert imported.meta.source == "recording" and imported.meta.epoch == EPOCH
    assert (imported.meta.fps, imported.meta.width, imported.meta.height) == (
        original.meta.fps,
        original.meta.width,
        original.meta.height,
    )
    assert [(c.t, c.scanner, c.hex) for c in imported.scanner_chunks] == [
        (c.t, c.scanner, c.hex) for c in original.scanner_chunks
    ]
    assert imported.pos_events == original.pos_events
    assert imported.truth == original.truth
    assert imported.lane_config_path == (SUITE / "lane.yaml").resolve()

    a = _replay(SUITE / "lane.yaml", ORIGINAL, tmp_path, "original")
    b = _replay(imported.lane_config_path, out, tmp_path, "imported")
    assert a and a == b


def test_raw_dump_reads_are_placed_at_the_truth_scan_times(tmp_path):
    dump = tmp_path / "ttyACM0.bin"
    dump.write_bytes(b"]E04006381333931\r]E05449000000996\r\n\x00")
    assert sniff_format(dump) == "raw"
    chunks = read_capture(dump, scanner="flatbed", scan_times=(3.5, 1.25), interval=2.0)
    assert [(c.t, c.data) for c in chunks] == [
        (1.25, b"]E04006381333931\r"),
        (3.5, b"]E05449000000996\r\n"),
        (4.0, b"\x00"),
    ]


def test_log_and_jsonl_captures(tmp_path):
    log = tmp_path / "cap.log"
    log.write_text("# t hex\n100.5 5d4530 flatbed\n\n101.0 0d\n")
    assert sniff_format(log) == "log"
    assert [(c.t, c.hex, c.scanner) for c in read_capture(log, scanner="x", start=100.0)] == [
        (0.5, "5d4530", "flatbed"),
        (1.0, "0d", "x"),
    ]
    js = tmp_path / "cap.jsonl"
    js.write_text('{"ts": 2.0, "hex": "41"}\n')
    assert sniff_format(js) == "jsonl"
    assert read_capture(js, scanner="flatbed")[0].t == 2.0
    bad = tmp_path / "bad.log"
    bad.write_text("1.0 5d45\n2.0 zz\n")
    with pytest.raises(ImportError_, match=r"bad.log:2"):
        read_capture(bad, fmt="log")
    with pytest.raises(ImportError_, match="before the first video frame"):
        read_capture(log, start=200.0)


def test_import_refuses_a_scanner_the_lane_does_not_have(tmp_path, capsys):
    rec = _recording(tmp_path)
    rec["serial"].write_text(f"{EPOCH + 1:.3f} 5d45300d handheld\n")
    rc = main(
        [
            "sim",
            "import",
            "--video",
            str(rec["video"]),
            "--serial",
            str(rec["serial"]),
            "--truth",
            str(rec["truth"]),
            "--lane",
            str(SUITE / "lane.yaml"),
            "--out",
            str(tmp_path / "x"),
            "--start",
            str(EPOCH),
        ]
    )
    assert rc == 2
    assert "handheld" in capsys.readouterr().err
