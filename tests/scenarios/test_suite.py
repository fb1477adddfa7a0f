"""The standard scenario suite (tests/scenarios/suite): small, complete, reproducible from its seeds.

Regenerate with ``edge-app sim generate --suite --out tests/scenarios/suite``.
"""

from __future__ import annotations

from pathlib import Path

from edge_app.lane.camera import file_frames
from edge_app.sim.cli import SUITE, SUITE_FPS, SUITE_SIZE
from edge_app.tools.scenario import TRUTH_LABELS, Scenario

HERE = Path(__file__).resolve().parent / "suite"


def test_suite_covers_every_label_and_stays_small():
    folders = sorted(p for p in HERE.iterdir() if p.is_dir())
    assert [p.name for p in folders] == sorted(SUITE)
    labels = set()
    total = 0
    for folder in folders:
        sc = Scenario(folder)
        labels |= {j.label for j in sc.truth.journeys}
        size = sc.video_path.stat().st_size
        assert size < 400_000, folder
        total += sum(f.stat().st_size for f in folder.iterdir())
        assert (sc.meta.width, sc.meta.height, sc.meta.fps) == (*SUITE_SIZE, SUITE_FPS)
        assert [e.kind for e in sc.pos_events][-2:] == ["payment_start", "transaction_end"]
    assert labels == set(TRUTH_LABELS)
    assert total < 3_000_000


def test_suite_videos_match_their_metadata():
    sc = Scenario(HERE / "suite-scan-without-item")
    frames = list(file_frames(str(sc.video_path)))
    assert abs(len(frames) / sc.meta.fps - sc.meta.duration_s) < 0.2
    assert frames[0].image.shape == (SUITE_SIZE[1], SUITE_SIZE[0], 3)


def test_suite_regenerates_from_its_seed(tmp_path):
    """Truth, scanner bytes and POS events of a suite scenario come back identical from its seed."""
    from edge_app.sim.cli import write_suite_scenario

    name = "suite-scan-without-item"
    out = write_suite_scenario(tmp_path, name)
    for f in ("truth.yaml", "scanner.jsonl", "pos.jsonl", "scenario.yaml"):
        assert (out / f).read_text() == (HERE / name / f).read_text(), f
    a = next(iter(file_frames(str(out / "video.mp4")))).image
    b = next(iter(file_frames(str(HERE / name / "video.mp4")))).image
    assert (a == b).all()
