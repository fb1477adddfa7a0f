"""`edge-app sim …` and `edge-app models …` from the command line."""

from __future__ import annotations

import sys

from edge_app.cli import main
from edge_app.tools.scenario import Scenario


def test_sim_generate_writes_replayable_folders(tmp_path, capsys):
    assert (
        main(
            [
                "sim",
                "generate",
                "--out",
                str(tmp_path),
                "--seed",
                "3",
                "--count",
                "2",
                "--items",
                "1",
                "--difficulty",
                "easy",
                "--size",
                "160x120",
                "--fps",
                "5",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "edge-app run --config" in out
    for name in ("easy-3-000", "easy-3-001"):
        sc = Scenario(tmp_path / name)
        assert sc.meta.width == 160 and sc.lane_config_path == (tmp_path / "lane.yaml").resolve()


def test_sim_dataset_and_sheet(tmp_path, capsys):
    assert (
        main(
            [
                "sim",
                "dataset",
                "--out",
                str(tmp_path / "ds"),
                "--seed",
                "1",
                "--images",
                "4",
                "--val-fraction",
                "0.5",
            ]
        )
        == 0
    )
    assert (tmp_path / "ds" / "data.yaml").is_file()
    assert (
        main(
            [
                "sim",
                "generate",
                "--out",
                str(tmp_path / "s"),
                "--count",
                "1",
                "--items",
                "1",
                "--size",
                "160x120",
                "--fps",
                "5",
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "sim",
                "sheet",
                "--out",
                str(tmp_path / "sheet.png"),
                str(tmp_path / "s" / "normal-0-000"),
                "--width",
                "80",
            ]
        )
        == 0
    )
    assert (tmp_path / "sheet.png").stat().st_size > 0


def test_models_list_and_train_dry_run(tmp_path, capsys):
    assert main(["models", "list"]) == 0
    assert "yolo11n-coco-int8-320" in capsys.readouterr().out
    assert (
        main(
            [
                "models",
                "train",
                "--dry-run",
                "--python",
                sys.executable,
                "--data-dir",
                str(tmp_path / "ds"),
                "--val-dir",
                str(tmp_path / "val"),
                "--nice",
                "0",
            ]
        )
        == 0
    )
    cmd = capsys.readouterr().out.splitlines()[-1]
    assert "scripts/train_lane_model.py" in cmd and "--imgsz 320" in cmd and "--time-h" in cmd
    assert not (tmp_path / "ds").exists()  # a dry run writes nothing


def test_the_edge_package_never_imports_torch_or_ultralytics():
    import importlib

    for name in (
        "edge_app.sim.cli",
        "edge_app.tools.models_cli",
        "edge_app.sim.kiosk",
        "edge_app.sim.dataset",
        "edge_app.sim.importer",
    ):
        importlib.import_module(name)
    assert "torch" not in sys.modules and "ultralytics" not in sys.modules
