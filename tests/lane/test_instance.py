"""One lane, one process: a second `edge-app run` on the same lane refuses before touching it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge_app.lane.instance import LaneAlreadyRunning, StateLock

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"

HOLDER = """
import sys, time
from edge_app.config import load_config
from edge_app.lane.app import Lane
cfg = load_config(sys.argv[1]).with_overrides({"scanners": []})
lane = Lane(cfg, use_watchdog=False)
print("ready", flush=True)
time.sleep(60)
"""


def test_a_second_process_on_the_same_lane_exits_non_zero_and_names_the_first(tmp_path):
    """Two processes on one lane evicted each other from the broker 26 times in 25 s."""
    env = {**os.environ, "STATE_DIRECTORY": str(tmp_path / "state")}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(DEMO)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        outbox = tmp_path / "state" / "outbox.db"
        before = outbox.stat().st_mtime_ns
        second = subprocess.run(
            [sys.executable, "-m", "edge_app", "run", "--config", str(DEMO)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert second.returncode != 0
        assert f"another edge-app (pid {holder.pid}) already runs this lane" in second.stderr
        assert outbox.stat().st_mtime_ns == before  # the outbox was not touched
        assert holder.poll() is None  # the first one runs on
    finally:
        holder.kill()
        holder.wait(10)


def test_the_lock_goes_with_its_holder(tmp_path):
    path = tmp_path / "lane.lock"
    first = StateLock.acquire(path)
    with pytest.raises(LaneAlreadyRunning):
        StateLock.acquire(path)
    first.release()
    StateLock.acquire(path).release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    path = tmp_path / "lane.lock"
    code = (
        "import sys, time, pathlib\n"
        "from edge_app.lane.instance import StateLock\n"
        "lock = StateLock.acquire(pathlib.Path(sys.argv[1]))\n"
        "print('held', flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    proc.kill()
    proc.wait(10)
    deadline = time.monotonic() + 5
    while True:
        try:
            StateLock.acquire(path).release()
            break
        except LaneAlreadyRunning:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_run_state_dir_is_the_lane_it_locks(tmp_path):
    """`edge-app run --state-dir` was ignored for a live lane: its outbox went elsewhere."""
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    env["HOME"] = str(tmp_path)  # the demo lane's own state_dir is relative; keep it out of ~
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            HOLDER.replace(
                "load_config(sys.argv[1])",
                "load_config(sys.argv[1]).with_overrides({'state_dir': sys.argv[2]})",
            ),
            str(DEMO),
            str(tmp_path / "mine"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        cmd = [sys.executable, "-m", "edge_app", "run", "--config", str(DEMO)]
        cmd += ["--state-dir", str(tmp_path / "mine")]
        second = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        assert second.returncode != 0 and "already runs this lane" in second.stderr
    finally:
        holder.kill()
        holder.wait(10)


def test_the_lock_holds_on_a_full_disk_with_no_lock_file_yet(small_disk):
    """A lane starting on a full disk exited 1 writing lane.lock, before its outbox (which runs
    from memory there) was even opened."""
    disk = small_disk("1m")
    disk.require_real()
    state = disk.path / "state"
    state.mkdir()
    disk.fill()
    first = StateLock.acquire(state / "lane.lock")
    try:
        with pytest.raises(LaneAlreadyRunning):
            StateLock.acquire(state / "lane.lock")
    finally:
        first.release()
    StateLock.acquire(state / "lane.lock").release()


def test_the_lock_holds_on_a_read_only_state_folder(small_disk):
    disk = small_disk("1m")
    disk.require_real()
    assert subprocess.run(["mount", "-o", "remount,ro", str(disk.path)]).returncode == 0
    first = StateLock.acquire(disk.path / "lane.lock")
    try:
        with pytest.raises(LaneAlreadyRunning):
            StateLock.acquire(disk.path / "lane.lock")
    finally:
        first.release()
