"""The registry refuses the wrong model with a message that says why."""

import hashlib
import logging
import shutil

import numpy as np
import pytest
import yaml

from edge_app.perception.models import (
    ModelError,
    check_model,
    create_session,
    default_manifest_path,
    load_manifest,
    open_model,
    sha256_of,
)
from tests.perception.conftest import MODELS, PALM, YOLO11
from tests.perception.onnx_graphs import constant_model

pytest.importorskip("onnx", reason="tiny test graphs need the onnx package (pip install onnx)")


def copy_with_manifest(tmp_path, name="yolo11n-coco-int8-320.onnx", edit=None):
    shutil.copy(MODELS / name, tmp_path / name)
    manifest = yaml.safe_load(default_manifest_path().read_text())
    if edit:
        edit(manifest["models"])
    (tmp_path / "manifest.yaml").write_text(yaml.safe_dump(manifest))
    return tmp_path / name


def test_every_shipped_model_matches_its_entry_and_has_its_licence():
    specs = load_manifest(default_manifest_path())
    assert set(specs) == {
        "yolo11n-coco-int8-320",
        "yolo11n-coco-fp32dq-320",
        "yolov8n-coco-int8-640",
        "mediapipe-palm-detection-128",
        "mediapipe-hand-landmark-224",
        "mediapipe-face-detection-short-128",
        "lane-products-hands-320",
        "yolo11n-coco-embed-256",
    }
    for spec in specs.values():
        path = MODELS / spec.file
        assert sha256_of(path) == spec.sha256, spec.name
        assert path.stat().st_size == spec.bytes, spec.name
        assert (MODELS / spec.licence_file).is_file(), spec.licence_file
        assert spec.source and spec.licence
        model = open_model(path, warmup=False)
        assert model.spec.name == spec.name


def test_tampered_file_is_refused_with_both_hashes(tmp_path):
    path = copy_with_manifest(tmp_path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError) as err:
        open_model(path)
    msg = str(err.value)
    assert "refused" in msg and "sha256" in msg
    assert hashlib.sha256(bytes(data)).hexdigest() in msg and "5ea9b19c6c4d" in msg


def test_lane_config_hash_is_checked_too():
    with pytest.raises(ModelError, match="the lane config expects 0000"):
        open_model(YOLO11, expected_sha256="0" * 64, warmup=False)
    open_model(
        YOLO11, expected_sha256=sha256_of(YOLO11).upper(), warmup=False
    )  # case does not matter


def test_wrong_output_shape_is_refused(tmp_path):
    def edit(models):
        models["yolo11n-coco-int8-320"]["output_shapes"] = {"output0": [1, 84, 8400]}
        models["yolo11n-coco-int8-320"]["sha256"] = None

    path = copy_with_manifest(tmp_path, edit=edit)
    with pytest.raises(
        ModelError,
        match=r"output 'output0' shape is \[1, 84, 2100\], the manifest says \[1, 84, 8400\]",
    ):
        open_model(path)


def test_wrong_input_shape_is_refused(tmp_path):
    def edit(models):
        models["yolo11n-coco-int8-320"]["input_shape"] = [1, 3, 640, 640]

    path = copy_with_manifest(tmp_path, edit=edit)
    with pytest.raises(ModelError, match=r"input 'images' shape is \[1, 3, 320, 320\]"):
        open_model(path)


def test_class_names_must_agree_with_the_onnx_metadata(tmp_path):
    def edit(models):
        names = list(models["yolo11n-coco-int8-320"]["names"])
        names[39], names[41] = names[41], names[39]  # bottle <-> cup
        models["yolo11n-coco-int8-320"]["names"] = names

    path = copy_with_manifest(tmp_path, edit=edit)
    with pytest.raises(ModelError, match="class names differ .* index 39: 'bottle' vs 'cup'"):
        open_model(path)


def test_class_count_must_fit_the_output_channels(tmp_path):
    out = np.zeros((1, 4 + 3, 10), np.float32)
    path = constant_model(tmp_path / "tiny.onnx", out)
    (tmp_path / "manifest.yaml").write_text(
        yaml.safe_dump(
            {
                "models": {
                    "tiny": {
                        "file": "tiny.onnx",
                        "task": "detect",
                        "format": "raw",
                        "input_size": 64,
                        "names": ["a", "b"],
                    }
                }
            }
        )
    )
    with pytest.raises(ModelError, match="7 channels per box; 2 classes need 6"):
        open_model(path)


def test_unlisted_model_can_be_required_to_be_listed(tmp_path):
    path = constant_model(
        tmp_path / "x.onnx", np.zeros((1, 300, 6)), metadata={"names": {0: "a"}, "end2end": True}
    )
    assert open_model(path).spec.output_format == "end2end"
    with pytest.raises(ModelError, match="not listed"):
        open_model(path, require_manifest=True)


def test_unlisted_model_without_names_is_refused(tmp_path):
    path = constant_model(tmp_path / "x.onnx", np.zeros((1, 84, 10)))
    with pytest.raises(ModelError, match="no class names"):
        open_model(path)


def test_missing_and_broken_files_are_model_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        open_model(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="cannot load"):
        open_model(tmp_path / "junk.onnx")


def test_unavailable_provider_falls_back_to_cpu_with_a_warning(caplog):
    import onnxruntime as ort

    missing = [
        p
        for p, n in (
            ("cuda", "CUDAExecutionProvider"),
            ("tensorrt", "TensorrtExecutionProvider"),
            ("openvino", "OpenVINOExecutionProvider"),
        )
        if n not in ort.get_available_providers()
    ]
    if not missing:
        pytest.skip("every accelerated provider is installed here")
    with caplog.at_level(logging.WARNING, logger="edge_app.perception.models"):
        session = create_session(YOLO11, provider=missing[0], threads=1)
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert any("not available" in r.message and "using CPU" in r.message for r in caplog.records)


def test_unknown_provider_is_an_error():
    with pytest.raises(ModelError, match="unknown execution provider 'tpu'"):
        create_session(YOLO11, provider="tpu")


def test_bad_manifest_entries_are_explained(tmp_path):
    (tmp_path / "manifest.yaml").write_text(
        "models:\n  m: {task: segment, format: raw, input_size: 64}\n"
    )
    with pytest.raises(ModelError, match="task 'segment' is not one of"):
        load_manifest(tmp_path / "manifest.yaml")
    (tmp_path / "manifest.yaml").write_text("models:\n  m: {task: detect, input_size: 64}\n")
    with pytest.raises(ModelError, match="lacks the key 'format'"):
        load_manifest(tmp_path / "manifest.yaml")


def test_unlisted_model_whose_head_does_not_fit_its_own_names_is_refused_at_open(tmp_path):
    """It opened, and the decoder failed (or decoded garbage) at the first frame."""
    names = {i: n for i, n in enumerate("abcdefgh")}
    path = constant_model(tmp_path / "x.onnx", np.zeros((1, 10, 100)), metadata={"names": names})
    with pytest.raises(ModelError, match="10 channels per box; 8 classes need 12"):
        open_model(path, warmup=False)
    e2e = constant_model(
        tmp_path / "e.onnx", np.zeros((1, 300, 5)), metadata={"names": names, "end2end": True}
    )
    with pytest.raises(ModelError, match="5 values per box; end2end needs 6"):
        open_model(e2e, warmup=False)


def test_check_model_opens_without_running_and_refuses_a_head_its_key_cannot_decode():
    spec = check_model(YOLO11, "detector", require_manifest=True)
    assert spec.name == "yolo11n-coco-int8-320" and spec.names[39] == "bottle"
    with pytest.raises(ModelError, match="mediapipe_palm head; this key takes raw or end2end"):
        check_model(PALM, "detector")
    with pytest.raises(ModelError, match="raw head; this key takes pose_raw or pose_end2end"):
        check_model(YOLO11, "pose")
