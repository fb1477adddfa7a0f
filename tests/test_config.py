"""Lane YAML: unknown keys, bad polygons and missing sections name the key and the line."""

from pathlib import Path

import pytest

from edge_app.config import ConfigError, load_config, parse_config

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "calibration" / "demo" / "lane.yaml"

MINIMAL = """\
store_id: s1
lane_id: l1
camera:
  source: "0"
models:
  products: {path: m.onnx}
zones:
  pick: [[0, 0], [0.3, 0], [0.3, 1]]
  scan: [[0.4, 0], [0.6, 0], [0.6, 1]]
  bag:  [[0.7, 0], [1, 0], [1, 1]]
"""


def errors(text):
    with pytest.raises(ConfigError) as exc:
        parse_config(text, "lane.yaml")
    return exc.value.lines


def test_demo_lane_is_valid():
    cfg = load_config(DEMO)
    assert cfg.lane_id == "lane-01" and cfg.scanners[0].id == "flatbed"
    assert cfg.resolve(cfg.models.products.path).is_file()


def test_minimal_lane_gets_safe_defaults():
    cfg = parse_config(MINIMAL)
    assert cfg.light.type == "console" and cfg.mqtt is None
    assert cfg.checkout.grace_ms == 600


def test_typo_names_key_and_line():
    lines = errors(MINIMAL.replace("lane_id: l1", "lane_id: l1\nstroe: x"))
    assert lines == ["lane.yaml:3: stroe: unknown key (typo?)"]


def test_nested_typo_line():
    lines = errors(MINIMAL.replace('  source: "0"', '  source: "0"\n  fsp: 30'))
    assert lines == ["lane.yaml:5: camera.fsp: unknown key (typo?)"]


def test_two_point_polygon():
    lines = errors(
        MINIMAL.replace("scan: [[0.4, 0], [0.6, 0], [0.6, 1]]", "scan: [[0.4, 0], [0.6, 0]]")
    )
    assert lines == ["lane.yaml:9: zones.scan: a zone polygon needs at least 3 points, got 2"]


def test_missing_camera():
    text = MINIMAL.replace('camera:\n  source: "0"\n', "")
    assert errors(text) == ["lane.yaml:1: camera: required key is missing"]


def test_points_outside_unit_square():
    lines = errors(
        MINIMAL.replace("bag:  [[0.7, 0], [1, 0], [1, 1]]", "bag:  [[70, 0], [100, 0], [100, 100]]")
    )
    assert len(lines) == 1 and "zones.bag" in lines[0] and "normalised" in lines[0]


def test_env_and_credentials(tmp_path, monkeypatch):
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "mqtt_password").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    monkeypatch.setenv("LANE", "l7")
    text = MINIMAL.replace("lane_id: l1", "lane_id: ${LANE}") + (
        "mqtt:\n  url: mqtt://${BROKER:-localhost}:1883\n  password: ${cred:mqtt_password}\n"
    )
    cfg = parse_config(text)
    assert (
        cfg.lane_id == "l7"
        and cfg.mqtt.url == "mqtt://localhost:1883"
        and cfg.mqtt.password == "s3cret"
    )
    assert "s3cret" not in repr(cfg.mqtt)


def test_unset_env_is_an_error_with_its_line():
    lines = errors(MINIMAL.replace("lane_id: l1", "lane_id: ${NO_SUCH_VAR_X}"))
    assert lines == ["lane.yaml:2: lane_id: environment variable NO_SUCH_VAR_X is not set"]


def test_not_yaml():
    lines = errors("store_id: [unclosed\n")
    assert lines[0].startswith("lane.yaml:") and "not valid YAML" in lines[0]


def test_unknown_light_driver():
    lines = errors(MINIMAL + "light: {type: lava_lamp}\n")
    assert len(lines) == 1 and lines[0].startswith("lane.yaml:11: light:")


def test_validating_a_lane_file_imports_no_light_driver():
    """validate-config (ExecStartPre) runs without gpiozero or pyserial: the config layer owns the schemas."""
    import subprocess
    import sys

    code = (
        "import sys; from edge_app.config import load_config; load_config(sys.argv[1]); "
        "print(sorted(m for m in sys.modules "
        "if m.startswith('edge_app.devices') or m in ('serial', 'gpiozero')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(DEMO)], capture_output=True, text=True, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


LAUGHS = "\n".join(
    ["a: &a [x, x, x, x, x, x, x, x, x]"]
    + [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
)


@pytest.mark.timeout(60)
def test_a_billion_laughs_is_refused_at_once_not_expanded():
    """Nine levels of nine aliases would be 387 million values: validate-config hung on it."""
    lines = errors(MINIMAL + LAUGHS + "\n")
    assert lines == ["lane.yaml:1: more than 50000 values once its aliases are expanded"]


@pytest.mark.timeout(60)
def test_an_alias_that_contains_itself_is_an_error():
    lines = errors(MINIMAL + "loop: &l [1, *l]\n")
    assert lines == ["lane.yaml:11: an alias refers to itself"]


def test_a_few_anchors_are_still_fine():
    text = MINIMAL.replace(
        "  pick: [[0, 0], [0.3, 0], [0.3, 1]]", "  pick: &p [[0, 0], [0.3, 0], [0.3, 1]]"
    )
    cfg = parse_config(text + "  go_back: *p\n", "lane.yaml")
    assert cfg.zones.go_back == cfg.zones.pick


def test_a_port_out_of_range_names_the_key_and_line():
    """mqtt://host:99999 passed validation and the store link never started."""
    lines = errors(MINIMAL + "mqtt:\n  url: mqtt://broker.store:99999\n")
    assert lines == ["lane.yaml:12: mqtt.url: port 99999 is not a port (1 to 65535)"]


def test_a_binary_file_is_named_not_a_decode_traceback(tmp_path):
    path = tmp_path / "lane.yaml"
    path.write_bytes(b"store_id: s1\nlane_id: \xff\xfe\x00\x01\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert exc.value.lines == [f"{path}:2: not a text file (UTF-8 expected): invalid start byte"]


EVIDENCE = (
    MINIMAL
    + """\
evidence:
  faces: blazeface
  privacy:
    - [[0, 0], [1, 0], [1, 0.2], [0, 0.2]]
    - [[0.8, 0.2], [1, 0.2], [1, 0.5]]
"""
)


def test_evidence_privacy_polygons_and_face_detector_are_read():
    ev = parse_config(EVIDENCE).evidence
    assert ev.faces == "blazeface" and len(ev.privacy) == 2 and ev.privacy[1][2] == (1.0, 0.5)
    default = parse_config(MINIMAL).evidence
    assert default.faces == "blazeface" and default.privacy == [
        [(0.0, 0.0), (1.0, 0.0), (1.0, 0.25), (0.0, 0.25)]
    ]


def test_a_bad_privacy_polygon_names_its_index_and_line():
    lines = errors(EVIDENCE.replace("[1, 0.5]]", "[1, 1.5]]"))
    assert lines == [
        "lane.yaml:15: evidence.privacy.1: point (1.0, 1.5) is outside 0..1 (polygons are "
        "normalised)"
    ]
    lines = errors(EVIDENCE.replace("[[0.8, 0.2], [1, 0.2], [1, 0.5]]", "[[0.8, 0.2], [1, 0.2]]"))
    assert lines == ["lane.yaml:15: evidence.privacy.1: a polygon needs at least 3 points, got 2"]


def test_no_privacy_polygon_needs_a_face_detector():
    no_polygons = MINIMAL + "evidence:\n  faces: FACES\n  privacy: []\n"
    assert parse_config(no_polygons.replace("FACES", "blazeface")).evidence.privacy == []
    lines = errors(no_polygons.replace("FACES", "none"))
    assert len(lines) == 1 and lines[0].startswith("lane.yaml:13: evidence.privacy: ")
    assert "needs a face detector" in lines[0]
    lines = errors(no_polygons.replace("FACES", "yunet"))
    assert lines[0].startswith("lane.yaml:12: evidence.faces: ") and "'blazeface'" in lines[0]
