"""The replay harness on a real video file: what it saw of the video is part of its result."""

from __future__ import annotations

import logging
import shutil

import yaml

from edge_app.config import load_config
from edge_app.tools.replay import run_scenario
from edge_app.tools.scenario import Scenario
from tests.lane.test_camera import truncate_to_half, write_clip
from tests.lane.test_lane_e2e import DEMO, SESSION


def test_a_replayed_video_truncated_mid_file_is_in_the_result_and_the_log(tmp_path, caplog):
    folder = tmp_path / "scenario"
    shutil.copytree(SESSION, folder, ignore=shutil.ignore_patterns("video.mp4"))
    meta = yaml.safe_load((folder / "scenario.yaml").read_text())
    meta.update(video="cut.avi", lane_config=str(DEMO))
    (folder / "scenario.yaml").write_text(yaml.safe_dump(meta))
    truncate_to_half(write_clip(folder / "cut.avi", frames=30, size=(320, 240)))
    cfg = load_config(DEMO).model_copy(update={"state_dir": str(tmp_path / "state"), "mqtt": None})
    with caplog.at_level(logging.WARNING, logger="edge_app.lane.camera"):
        run = run_scenario(cfg, Scenario(folder))
    assert 0 < run.result.frames < 30
    assert run.result.video_problem == (
        f"ended after {run.result.frames} of the 30 frames its container declares "
        "(truncated or damaged)"
    )
    assert any(str(folder / "cut.avi") in r.getMessage() for r in caplog.records)
