"""`edge-app catalog enrol | list | remove`: the real embedding model and real photos, real files."""

import json
from pathlib import Path

import pytest

from edge_app.cli import main

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ORANGE = [str(p) for p in sorted((ASSETS / "vision_eval" / "images").glob("Orange_*.jpg"))]
PLUM = str(ASSETS / "vision_eval" / "images" / "Plum_003.jpg")
GTIN = "7310865004703"
GTIN2 = "4006381333931"


def test_enrol_list_remove_round_trip(tmp_path, capsys):
    cat = tmp_path / "cat.json"
    assert (
        main(["catalog", "enrol", GTIN, *ORANGE, "--name", "Orange", "--catalogue", str(cat)]) == 0
    )
    assert main(["catalog", "enrol", GTIN2, PLUM, "--catalogue", str(cat)]) == 0
    assert main(["catalog", "enrol", GTIN2, PLUM, "--catalogue", str(cat)]) == 0  # more photos
    data = json.loads(cat.read_text())
    assert {p["gtin"]: p["photos"] for p in data["products"]} == {GTIN: 2, GTIN2: 2}
    assert len(data["products"][0]["mean"]) == 256
    capsys.readouterr()
    assert main(["catalog", "list", "--catalogue", str(cat)]) == 0
    out = capsys.readouterr().out
    assert [line.split() for line in out.splitlines()[:2]] == [
        [GTIN2, "2", "photo(s)"],
        [GTIN, "2", "photo(s)", "Orange"],
    ]
    assert "2 product(s), unknown below cosine 0.30" in out
    assert main(["catalog", "remove", GTIN, "--catalogue", str(cat)]) == 0
    assert [p["gtin"] for p in json.loads(cat.read_text())["products"]] == [GTIN2]
    assert main(["catalog", "remove", GTIN, "--catalogue", str(cat)]) == 2
    assert "not in" in capsys.readouterr().err


def test_catalogue_lives_next_to_the_lane_file(tmp_path):
    lane = tmp_path / "lane3.yaml"
    lane.write_text("lane_id: lane3\n")
    assert main(["catalog", "enrol", GTIN, PLUM, "--config", str(lane)]) == 0
    assert (tmp_path / "lane3.catalogue.json").is_file()


@pytest.mark.parametrize("gtin", ["7310865004704", "12345", "abcdefghijklm"])
def test_bad_gtin_is_refused_and_nothing_written(tmp_path, capsys, gtin):
    cat = tmp_path / "cat.json"
    assert main(["catalog", "enrol", gtin, PLUM, "--catalogue", str(cat)]) == 2
    assert "not a valid GTIN" in capsys.readouterr().err and not cat.exists()


def test_unreadable_photo_enrols_nothing(tmp_path, capsys):
    cat = tmp_path / "cat.json"
    bad = tmp_path / "x.jpg"
    bad.write_bytes(b"not a jpeg")
    assert main(["catalog", "enrol", GTIN, PLUM, str(bad), "--catalogue", str(cat)]) == 2
    assert "not a readable image" in capsys.readouterr().err and not cat.exists()


def test_catalogue_of_another_embedder_is_refused(tmp_path, capsys):
    cat = tmp_path / "cat.json"
    cat.write_text(
        json.dumps({"version": 1, "embedder_sha256": "0" * 64, "threshold": 0.9, "products": []})
    )
    assert main(["catalog", "list", "--catalogue", str(cat)]) == 2
    assert "re-enrol" in capsys.readouterr().err


def test_a_catalogue_location_is_required(capsys):
    with pytest.raises(SystemExit, match="--catalogue"):
        main(["catalog", "list"])
