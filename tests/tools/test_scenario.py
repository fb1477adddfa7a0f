"""Scenario format and the synthetic scene generator."""

from pathlib import Path

import numpy as np
import pytest

from edge_app.lane.camera import file_frames
from edge_app.sim.generate import crossings, demo_plans, random_plans, scanner_bytes, write_plan
from edge_app.sim.render import render
from edge_app.sim.scene import LAYOUT, Scene
from edge_app.tools.scenario import Scenario, ScenarioError

REPO = Path(__file__).resolve().parents[2]


def test_bundled_demo_session_loads_and_agrees_with_its_video():
    sc = Scenario(REPO / "calibration" / "demo" / "session-001")
    assert sc.lane_config_path == (REPO / "calibration" / "demo" / "lane.yaml")
    labels = [j.label for j in sc.truth.journeys]
    assert "missed_scan.pass_over" in labels and "missed_scan.bypass" in labels
    frames = sum(1 for _ in file_frames(str(sc.video_path)))
    assert abs(frames / sc.meta.fps - sc.meta.duration_s) < 0.2
    # each scanned journey has its bytes, beeping between leaving the basket and landing
    raw = b"".join(c.data for c in sc.scanner_chunks)
    for j in sc.truth.journeys:
        if j.label == "scanned":
            assert scanner_bytes(j.gtin) in raw
            assert j.t_leave_pick < j.t_scan < j.t_land


def test_truth_times_follow_the_zones():
    for plan in demo_plans():
        t = crossings(plan)
        x, y = plan.position(t["t_land"])
        x0, y0, x1, y1 = LAYOUT["bag"]
        assert x0 <= x <= x1 and y0 <= y <= y1
        if plan.truth == "missed_scan.bypass":
            assert t["t_over_scan"] is None
        else:
            assert t["t_leave_pick"] < t["t_over_scan"] < t["t_land"]


def test_generator_is_deterministic_per_seed(tmp_path):
    a = write_plan(tmp_path / "a", "a", random_plans(7, 2), "../lane.yaml", seed=7)
    b = write_plan(tmp_path / "b", "b", random_plans(7, 2), "../lane.yaml", seed=7)
    assert (a / "truth.yaml").read_text() == (b / "truth.yaml").read_text()
    assert (a / "scanner.jsonl").read_text() == (b / "scanner.jsonl").read_text()
    fa = next(iter(file_frames(str(a / "video.mp4")))).image
    fb = next(iter(file_frames(str(b / "video.mp4")))).image
    assert np.array_equal(fa, fb)


def test_rendered_item_box_is_where_the_plan_says():
    plans = demo_plans()
    scene = Scene(items=plans)
    t = plans[0].keys[1][0]
    _, boxes = render(scene, t, np.random.default_rng(0))
    (box,) = [b for b in boxes if b["item"] == 0]
    cx = (box["xyxy"][0] + box["xyxy"][2]) / 2 / scene.width
    assert abs(cx - plans[0].position(t)[0]) < 0.02


def test_broken_scenario_says_which_line(tmp_path):
    folder = write_plan(tmp_path / "s", "s", random_plans(1, 1), "../lane.yaml", seed=1)
    (folder / "scanner.jsonl").write_text(
        '{"t": 1.0, "scanner": "flatbed", "hex": "41"}\nnot json\n'
    )
    with pytest.raises(ValueError, match=r"scanner.jsonl:2: not JSON"):
        Scenario(folder)


def _copy_scenario(tmp_path):
    src = REPO / "tests" / "scenarios" / "suite" / "suite-scanned"
    dst = tmp_path / "sc"
    dst.mkdir()
    for name in ("scenario.yaml", "truth.yaml", "scanner.jsonl", "pos.jsonl"):
        if (src / name).exists():
            (dst / name).write_bytes((src / name).read_bytes())
    return dst


def test_an_empty_scenario_yaml_is_named(tmp_path):
    """A 0-byte scenario.yaml gave a validation error with no file name."""
    folder = _copy_scenario(tmp_path)
    (folder / "scenario.yaml").write_text("")
    with pytest.raises(ScenarioError, match=r"scenario\.yaml: empty, or not a mapping of keys"):
        Scenario(folder)


def test_a_bad_pos_row_names_its_file_and_line(tmp_path):
    """A POS row without its time gave a bare KeyError: 't'."""
    folder = _copy_scenario(tmp_path)
    (folder / "pos.jsonl").write_text(
        '{"t": 0.5, "kind": "transaction_start"}\n{"kind": "payment_start"}\n'
    )
    with pytest.raises(ScenarioError, match=r"pos\.jsonl:2: no time 't'"):
        Scenario(folder)
    (folder / "pos.jsonl").write_text('{"t": 0.5, "kind": "transaction_start", "colour": 3}\n')
    with pytest.raises(ScenarioError, match=r"pos\.jsonl:1: .*colour"):
        Scenario(folder)


def test_a_bad_scanner_row_names_its_file_and_line(tmp_path):
    folder = _copy_scenario(tmp_path)
    (folder / "scanner.jsonl").write_text("[1, 2]\n")
    with pytest.raises(ScenarioError, match=r"scanner\.jsonl:1: expected a JSON object"):
        Scenario(folder)
