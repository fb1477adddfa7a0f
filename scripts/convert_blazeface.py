"""Convert MediaPipe's BlazeFace short-range face detector (a .tflite in the mediapipe wheel) to ONNX.

Run once, offline, in a throwaway venv: the edge runtime never imports
mediapipe or TensorFlow, it runs the committed ONNX file with ONNX Runtime.
The wheel is only unzipped, never installed::

    python3.11 -m venv /tmp/blazeface
    /tmp/blazeface/bin/pip install tflite2onnx==0.4.1 ai-edge-litert onnxruntime opencv-python-headless
    /tmp/blazeface/bin/pip download mediapipe==0.10.14 --no-deps -d /tmp/mpwheel
    /tmp/blazeface/bin/python scripts/convert_blazeface.py \\
        /tmp/mpwheel/mediapipe-0.10.14-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl \\
        models/mediapipe-face-detection-short-128.onnx \\
        --check tests/assets/faces/*.jpg tests/assets/zidane.jpg tests/assets/bus.jpg

``--check`` runs the TFLite original (LiteRT interpreter) and the ONNX
conversion on the same input tensor of each photo and fails when any output
differs by more than ``--atol``: the conversion is proved on real faces, not
assumed. tflite2onnx turns the NHWC input into NCHW ([1, 3, 128, 128]), as
the other MediaPipe models of ``models/`` take it.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
#: the file inside mediapipe==0.10.14 (the same in every platform's wheel of that version)
TFLITE_SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"


def extract(wheel: Path, out: Path) -> str:
    """The tflite member of the wheel written to ``out``; its sha256 checked."""
    with zipfile.ZipFile(wheel) as zf:
        data = zf.read(MEMBER)
    digest = hashlib.sha256(data).hexdigest()
    if digest != TFLITE_SHA256:
        sys.exit(f"{wheel}:{MEMBER}: sha256 {digest}, expected {TFLITE_SHA256}")
    out.write_bytes(data)
    return digest


def convert(tflite: Path, onnx_path: Path, wheel: Path) -> None:
    import onnx
    import tflite2onnx

    tflite2onnx.convert(str(tflite), str(onnx_path))
    model = onnx.load(str(onnx_path))
    # tflite2onnx lists initializers and value infos in set order (hash-seeded): sort them so that
    # every run writes the same bytes
    for field in (model.graph.initializer, model.graph.value_info):
        items = sorted(field, key=lambda t: t.name)
        del field[:]
        field.extend(items)
    wheel_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    meta = {
        "source": f"{wheel.name} (sha256 {wheel_sha}) {MEMBER} (sha256 {TFLITE_SHA256})",
        "converter": "tflite2onnx 0.4.1 via scripts/convert_blazeface.py",
        "license": "Apache-2.0 (Google MediaPipe)",
    }
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(onnx_path))


def input_tensor(path: Path) -> np.ndarray:
    """NHWC RGB in [-1, 1], the photo zero-padded to a centred square: the edge runtime's own
    ``palm_input`` (NCHW), transposed for the TFLite graph."""
    import cv2

    from edge_app.perception.hands import palm_input

    img = cv2.imread(str(path))
    if img is None:
        sys.exit(f"{path}: not an image")
    x, _, _ = palm_input(img)
    return np.ascontiguousarray(x.transpose(0, 2, 3, 1))


def check(tflite: Path, onnx_path: Path, photos: list[Path], atol: float) -> float:
    """Largest output difference TFLite vs ONNX over the photos; exits when over ``atol``."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(str(tflite))
    interp.allocate_tensors()
    tin = interp.get_input_details()[0]["index"]
    touts = {d["name"]: d["index"] for d in interp.get_output_details()}
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for photo in photos:
        x = input_tensor(photo)
        interp.set_tensor(tin, x)
        interp.invoke()
        outs = sess.run(None, {"input": x.transpose(0, 3, 1, 2).copy()})
        for out, got in zip(sess.get_outputs(), outs, strict=True):
            want = interp.get_tensor(touts[out.name])
            diff = float(np.abs(want - got).max())
            worst = max(worst, diff)
            best = float(1 / (1 + np.exp(-want.max()))) if out.name == "classificators" else None
            extra = f", best face score {best:.3f}" if best is not None else ""
            print(f"{photo.name}: {out.name} max |tflite - onnx| = {diff:.2e}{extra}")
    if worst > atol:
        sys.exit(f"ONNX differs from the TFLite original by {worst:.2e} > {atol}")
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "wheel", type=Path, help="mediapipe-0.10.14-*.whl (pip download, not installed)"
    )
    ap.add_argument("out", type=Path, help="the ONNX file to write")
    ap.add_argument("--check", type=Path, nargs="*", default=[], help="photos to compare on")
    ap.add_argument("--atol", type=float, default=1e-2, help="logits and input pixels")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tflite = Path(tmp) / "face_detection_short_range.tflite"
        extract(args.wheel, tflite)
        convert(tflite, args.out, args.wheel)
        print(f"{args.out}: sha256 {hashlib.sha256(args.out.read_bytes()).hexdigest()}")
        if args.check:
            worst = check(tflite, args.out, args.check, args.atol)
            print(
                f"largest difference over {len(args.check)} photos: {worst:.2e} (atol {args.atol})"
            )


if __name__ == "__main__":
    main()
