"""The console command as a technician meets it (real subprocesses)."""

import subprocess
import sys
from pathlib import Path

import pytest

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


def _lane_file(tmp_path, model, extra="", **products):
    """MINIMAL with the product model ``model`` (and more ``products`` keys) and ``extra`` YAML."""
    fields = ", ".join([f"path: {model.name}", *(f"{k}: {v}" for k, v in products.items())])
    path = tmp_path / "lane.yaml"
    path.write_text(MINIMAL.replace("products: {path: m.onnx}", f"products: {{{fields}}}") + extra)
    return path


def _line(path, text):
    """The 1-based line of ``path`` where ``text`` first appears."""
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def _sha256(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_validate_config_opens_the_model_a_text_file_named_onnx_is_refused(tmp_path):
    """It said 'ok' and the lane failed at start: the model is opened as the lane opens it."""
    model = tmp_path / "m.onnx"
    model.write_text("this is not a model\n")
    lane = _lane_file(tmp_path, model, sha256=_sha256(model))
    r = edge_app("validate-config", str(lane))
    assert r.returncode == 1 and "ok (lane" not in r.stdout
    (line,) = r.stderr.strip().splitlines()
    assert (
        line.startswith(f"{lane}:{_line(lane, 'products:')}: models.products.path: ")
        and "cannot load" in line
    )


def test_validate_config_refuses_a_real_onnx_model_whose_head_does_not_fit(tmp_path):
    """A real ONNX graph with 10 output channels, named 8 classes: its decoder needs 12."""
    import numpy as np
    import yaml

    pytest.importorskip("onnx", reason="tiny test graphs need the onnx package")
    from tests.perception.onnx_graphs import constant_model

    names = ["hand", "milk", "juice", "oat", "soy", "cream", "soda", "apple"]
    model = constant_model(
        tmp_path / "m.onnx", np.zeros((1, 10, 100)), metadata={"names": dict(enumerate(names))}
    )
    # unlisted: described from its own metadata, trusted by the lane file's sha256
    lane = _lane_file(tmp_path, model, sha256=_sha256(model))
    r = edge_app("validate-config", str(lane))
    assert r.returncode == 1, r.stdout
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"{lane}:{_line(lane, 'products:')}: models.products.path: ")
    assert "10 channels per box; 8 classes need 12" in line
    # listed in a manifest beside it: the manifest's shapes are the decoder's
    entry = {"file": "m.onnx", "task": "detect", "format": "raw", "input_size": 64, "names": names}
    entry["output_shapes"] = {"output0": [1, 12, -1]}
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump({"models": {"m": entry}}))
    r = edge_app("validate-config", str(_lane_file(tmp_path, model)))
    assert r.returncode == 1
    assert "output 'output0' shape is [1, 10, 100], the manifest says [1, 12, -1]" in r.stderr


def _hand_and_milk_lane(tmp_path, classes: str, label: str) -> Path:
    """A lane file over a real two-class ONNX model (hand, milk), detector hands, one catalog item."""
    import numpy as np

    pytest.importorskip("onnx", reason="tiny test graphs need the onnx package")
    from tests.perception.onnx_graphs import constant_model

    model = constant_model(
        tmp_path / "m.onnx", np.zeros((1, 6, 100)), metadata={"names": {0: "hand", 1: "milk"}}
    )
    catalog = f'\ncatalog:\n  items:\n    "05449000000996": {{name: Thing, label: {label}}}\n'
    hands = "\n  hands: {backend: detector, detector_class: hand}"
    lane = _lane_file(tmp_path, model, catalog, sha256=_sha256(model), classes=classes)
    lane.write_text(lane.read_text().replace("}\nzones:", "}" + hands + "\nzones:", 1))
    return lane


def test_validate_config_names_each_class_the_model_lacks_and_lists_its_classes(tmp_path):
    lane = _hand_and_milk_lane(tmp_path, classes="[milk, juice]", label="cola")
    r = edge_app("validate-config", str(lane))
    assert r.returncode == 1, r.stdout
    lines = r.stderr.strip().splitlines()
    classes, label = _line(lane, "products:"), _line(lane, "label: cola")
    assert lines == [
        f"{lane}:{classes}: models.products.classes.1: "
        "class 'juice' is not a class of the model 'm'; it has: hand, milk",
        f"{lane}:{label}: catalog.items.05449000000996.label: "
        "class 'cola' is not a class of the model 'm'; it has: hand, milk",
    ], lines


def test_validate_config_refuses_the_hand_class_as_a_product(tmp_path):
    """Issue 20: a lane that counts the detector's hands as items accuses every empty hand."""
    lane = _hand_and_milk_lane(tmp_path, classes="[milk, hand]", label="hand")
    r = edge_app("validate-config", str(lane))
    assert r.returncode == 1, r.stdout
    classes, label = _line(lane, "products:"), _line(lane, "label: hand")
    assert r.stderr.strip().splitlines() == [
        f"{lane}:{classes}: models.products.classes.1: class 'hand' is the hands backend's class; "
        "a hand is never a product; it has: hand, milk",
        f"{lane}:{label}: catalog.items.05449000000996.label: class 'hand' is the hands backend's "
        "class; a hand is never a product; it has: hand, milk",
    ]


def test_validate_config_warns_when_the_light_cannot_be_created_and_still_passes(tmp_path):
    """The lane runs on without a light (status/light down): a warning, exit 0, with the reason."""
    import os

    def gpio(pin, **env):
        path = tmp_path / f"lane-{pin}.yaml"
        path.write_text(MINIMAL + f"light:\n  type: gpio\n  red: {pin}\n")
        clean = {k: v for k, v in os.environ.items() if k != "GPIOZERO_PIN_FACTORY"}
        return path, edge_app("validate-config", "--no-files", str(path), env={**clean, **env})

    path, r = gpio(17, GPIOZERO_PIN_FACTORY="mock")  # gpiozero's mock board: pin 17 exists
    assert r.returncode == 0 and r.stderr == "" and "ok (lane" in r.stdout, r.stderr
    path, r = gpio(99, GPIOZERO_PIN_FACTORY="mock")  # no such pin on any board
    assert r.returncode == 0 and "ok (lane" in r.stdout
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(
        f"{path}:{_line(path, 'type: gpio')}: light.type: warning: the gpio light cannot be created"
    )
    assert "PinInvalidPin: 99 is not a valid pin name" in line and "status/light down" in line
    if not Path("/dev/gpiochip0").exists():  # this box has no GPIO at all, like a CI runner
        path, r = gpio(17)
        assert r.returncode == 0 and "ok (lane" in r.stdout
        assert "warning: the gpio light cannot be created" in r.stderr
        assert "pin factory" in r.stderr, r.stderr


def test_validate_config_opens_the_evidence_face_detector_and_warns_when_it_cannot_run(tmp_path):
    """The lane would fall back to the privacy band: a warning naming why, exit 0."""
    demo = REPO / "calibration" / "demo" / "lane.yaml"
    ok = edge_app("validate-config", str(demo))
    assert ok.returncode == 0 and ok.stderr == "", ok.stderr  # blazeface, the default, opens
    lane = tmp_path / "lane.yaml"
    text = demo.read_text().replace("../../models", str(REPO / "models"))
    lane.write_text(text + "evidence:\n  faces: haar\n")
    r = edge_app("validate-config", str(lane))
    assert r.returncode == 0 and "ok (lane" in r.stdout
    try:
        import cv2

        cv2.CascadeClassifier  # noqa: B018
        pytest.skip("this OpenCV still has Haar cascades: nothing to warn about")
    except AttributeError:
        pass
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith(f"{lane}:{_line(lane, 'faces: haar')}: evidence.faces: warning: ")
    assert "would blur the privacy band instead" in line
