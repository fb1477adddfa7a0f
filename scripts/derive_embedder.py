"""Derive the product-embedding ONNX from the shipped COCO YOLO11n (no training, no download).

The lane's recogniser (edge_app/perception/recogniser.py) needs an image
embedding that runs offline through ONNX Runtime. This script cuts the YOLO11n
backbone of ``models/yolo11n-coco-fp32dq-320.onnx`` after its three deepest
backbone blocks (model.6 C3k2, stride 16, 128 ch; model.8 C3k2, stride 32,
256 ch; model.10 C2PSA, stride 32, 256 ch), global-average-pools each,
L2-normalises each (so no block dominates) and concatenates them (640
values). The neck and detection head are dropped; the backbone weights are the
source file's (same AGPL-3.0 licence).

Then a PCA whitening fitted on GroceryStoreDataset's *train* split (mean
subtracted, projected on the top 256 principal axes, each divided by its
standard deviation), L2-normalised: ``embedding`` [N, 256]. Whitening lifts
nearest-prototype top-1 on the val split from 0.28 to 0.50: the raw pooled
activations are all positive and share a few dominant directions, so every
cosine is near 1. The blocks, the input size (224) and the 256 axes were chosen
on the val split (docs/MODELS.md, "Product recognition").

    python scripts/derive_embedder.py /tmp/gsd/dataset   # writes models/yolo11n-coco-embed-256.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "models" / "yolo11n-coco-fp32dq-320.onnx"
TARGET = ROOT / "models" / "yolo11n-coco-embed-256.onnx"
WHITEN_DIMS = 256
EMBED_SIZE = 224
TAPS = (
    "/model.6/cv2/act/Mul_output_0",
    "/model.8/cv2/act/Mul_output_0",
    "/model.10/cv2/act/Mul_output_0",
)


def backbone(source: Path) -> onnx.ModelProto:
    """The source graph cut to the three pooled, per-block normalised taps: ``pooled`` [N, 640]."""
    model = onnx.load(str(source))
    graph = model.graph
    parts = []
    for i, tap in enumerate(TAPS):
        graph.node.extend(
            [
                helper.make_node("GlobalAveragePool", [tap], [f"emb{i}_gap"]),
                helper.make_node("Flatten", [f"emb{i}_gap"], [f"emb{i}_flat"]),
                helper.make_node("LpNormalization", [f"emb{i}_flat"], [f"emb{i}"], axis=1, p=2),
            ]
        )
        parts.append(f"emb{i}")
    graph.node.append(helper.make_node("Concat", parts, ["pooled"], axis=1))
    del graph.output[:]
    graph.output.append(
        helper.make_tensor_value_info("pooled", onnx.TensorProto.FLOAT, ["batch", 640])
    )
    return onnx.utils.Extractor(model).extract_model(["images"], ["pooled"])


def train_pooled(cut: onnx.ModelProto, dataset: Path) -> np.ndarray:
    """``pooled`` of every train photo, letterboxed to 224 like the lane's crops."""
    import onnxruntime as ort

    from edge_app.perception.recogniser import to_tensor

    sess = ort.InferenceSession(cut.SerializeToString(), providers=["CPUExecutionProvider"])
    rows = [line.split(",")[0].strip() for line in (dataset / "train.txt").read_text().splitlines()]
    out = []
    for rel in filter(None, rows):
        img = cv2.imread(str(dataset / rel))
        out.append(sess.run(None, {"images": to_tensor(img, EMBED_SIZE)})[0][0])
    return np.stack(out)


def whitening(x: np.ndarray, dims: int) -> tuple[np.ndarray, np.ndarray]:
    mu = x.mean(0)
    _u, sv, vt = np.linalg.svd(x - mu, full_matrices=False)
    w = vt[:dims].T / (sv[:dims] / np.sqrt(len(x)))
    return mu.astype(np.float32), w.astype(np.float32)


def derive(source: Path, target: Path, dataset: Path) -> str:
    model = onnx.load(str(source))
    cut = backbone(source)
    mu, w = whitening(train_pooled(cut, dataset), WHITEN_DIMS)
    g = cut.graph
    g.initializer.extend(
        [numpy_helper.from_array(mu, "whiten_mean"), numpy_helper.from_array(w, "whiten_proj")]
    )
    g.node.extend(
        [
            helper.make_node("Sub", ["pooled", "whiten_mean"], ["centred"]),
            helper.make_node("MatMul", ["centred", "whiten_proj"], ["whitened"]),
            helper.make_node("LpNormalization", ["whitened"], ["embedding"], axis=1, p=2),
        ]
    )
    del g.output[:]
    g.output.append(
        helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, ["batch", WHITEN_DIMS])
    )
    keep = {
        p.key: p.value for p in model.metadata_props if p.key not in ("names", "task", "kpt_shape")
    }
    keep["task"] = "embed"
    keep["description"] = (
        "YOLO11n COCO backbone, GAP of model.6/8/10, L2 per block, concat (640), "
        "PCA-whitened to 256 on GroceryStoreDataset train, L2"
    )
    del cut.metadata_props[:]
    for k, v in keep.items():
        cut.metadata_props.add(key=k, value=v)
    cut.producer_name = "edge_app scripts/derive_embedder.py"
    onnx.checker.check_model(cut)
    onnx.save(cut, str(target))
    return hashlib.sha256(target.read_bytes()).hexdigest()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="GroceryStoreDataset's dataset/ folder")
    ap.add_argument("--source", type=Path, default=SOURCE)
    ap.add_argument("--out", type=Path, default=TARGET)
    a = ap.parse_args()
    digest = derive(a.source, a.out, a.dataset)
    print(f"{a.out} {a.out.stat().st_size} bytes sha256 {digest}")


if __name__ == "__main__":
    main()
