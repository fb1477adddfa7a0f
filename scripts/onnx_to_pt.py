"""Rebuild an Ultralytics YOLO11 checkpoint from its own ONNX export.

Why: the product ships ONNX files whose training checkpoints were not kept
(the COCO model exists here only as an int8 export; the lane model's ``.pt``
lived in /tmp). Re-exporting with other shapes (a dynamic input for motion
regions) or fine-tuning needs a ``.pt``. An Ultralytics ONNX export is the
fused network: every Conv+BatchNorm became one Conv with a bias. This script
builds the same architecture from its yaml, finds each ONNX Conv's layer by
module name (from the weight's initializer name or the node's scope; export
order is not forward order), copies each weight and bias, and sets every BatchNorm to identity
(weight 1, bias = the conv bias, mean 0, var 1 - eps) so the checkpoint is
exact *and* trainable. With ``--calibrate`` images it goes one step further
for fine-tuning: an identity BatchNorm still normalises by the *batch*
statistics in training mode, which would rescale every fused activation at
the first step and throw away what the network knew; so each BatchNorm gets
the mean and variance of its conv's output on those images as running
statistics and as scale and shift (weight = sqrt(var + eps), bias = mean +
conv bias). Evaluation stays exact, and a training batch like the images
passes through almost unchanged. It then checks the rebuilt model against ONNX Runtime
on real images and refuses to write a checkpoint that disagrees.

Runs in the ``train`` venv (torch + ultralytics), never in the edge process:

    python scripts/onnx_to_pt.py models/lane-products-hands-320.onnx /tmp/lane.pt --yaml yolo11n.yaml
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def module_name(node, weight_name: str) -> str:
    """The torch module an exported Conv came from.

    ``model.6.m.0.cv2.conv.weight`` (initializer) or ``/model.6/m.0/cv2/conv/Conv``
    (node scope, where a nested list repeats its parent: ``cv3.2/cv3.2.1``).
    """
    if weight_name.startswith("model.") and ".weight" in weight_name:
        return weight_name.split(".weight")[0]
    path: list[str] = []
    for seg in node.name.strip("/").split("/")[:-1]:
        if path and seg.startswith(path[-1] + "."):
            path[-1] = seg
        else:
            path.append(seg)
    return ".".join(path)


def onnx_convs(path: Path) -> tuple[dict[str, tuple[np.ndarray, np.ndarray | None]], dict]:
    """{module name: (weight, bias)} of every Conv, with a bias folded into a following Add."""
    model = onnx.load(str(path))
    const = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for n in model.graph.node:  # constant folding enough for 'bias -> Reshape'
        if n.op_type == "Constant":
            const[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)
        elif n.op_type == "Reshape" and all(i in const for i in n.input[:2]):
            const[n.output[0]] = const[n.input[0]].reshape(const[n.input[1]])
    consumers: dict[str, list] = {}
    for n in model.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    convs = {}
    for n in model.graph.node:
        if n.op_type != "Conv":
            continue
        w = const[n.input[1]]
        b = const[n.input[2]] if len(n.input) > 2 and n.input[2] else None
        if b is None:
            nxt = consumers.get(n.output[0], [])
            if len(nxt) == 1 and nxt[0].op_type == "Add":
                other = [i for i in nxt[0].input if i != n.output[0]]
                if other and other[0] in const:
                    b = const[other[0]].reshape(-1)  # the fused conv's bias, added after it
        convs[module_name(n, n.input[1])] = (w, b)
    meta = {p.key: p.value for p in model.metadata_props}
    return convs, meta


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", type=Path)
    ap.add_argument("out", type=Path, help="checkpoint to write (.pt)")
    ap.add_argument(
        "--yaml", default="yolo11n.yaml", help="the architecture the ONNX was exported from"
    )
    ap.add_argument(
        "--images", nargs="*", default=[], help="photos to compare on, besides one of random noise"
    )
    ap.add_argument(
        "--calibrate",
        nargs="*",
        default=[],
        help="training images whose activation statistics become each BatchNorm's (for "
        "fine-tuning)",
    )
    args = ap.parse_args(argv)

    import torch
    from torch import nn
    from ultralytics.nn.tasks import DetectionModel

    convs, meta = onnx_convs(args.onnx)
    names = ast.literal_eval(meta["names"])
    imgsz = ast.literal_eval(meta.get("imgsz", "[640, 640]"))
    net = DetectionModel(args.yaml, ch=3, nc=len(names), verbose=False)
    net.names = names
    net.eval()

    modules = dict(net.named_modules())
    missing = sorted(set(convs) - set(modules))
    if missing or len(convs) != sum(isinstance(m, nn.Conv2d) for m in modules.values()):
        print(f"{args.yaml} is not the network of {args.onnx}: {missing[:5]}", file=sys.stderr)
        return 2
    bn_of = {}
    for mod in net.modules():
        if hasattr(mod, "conv") and hasattr(mod, "bn") and isinstance(mod.conv, nn.Conv2d):
            bn_of[id(mod.conv)] = mod.bn
    with torch.no_grad():
        for name, (w, b) in convs.items():
            m = modules[name]
            if tuple(m.weight.shape) != w.shape:
                print(
                    f"{name}: {tuple(m.weight.shape)} in the yaml, {w.shape} in the ONNX",
                    file=sys.stderr,
                )
                return 2
            m.weight.copy_(torch.from_numpy(w))
            bias = torch.from_numpy(b) if b is not None else torch.zeros(w.shape[0])
            bn = bn_of.get(id(m))
            if bn is not None:
                bn.weight.fill_(1.0)
                bn.bias.copy_(bias)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif m.bias is not None:
                m.bias.copy_(bias)
            elif b is not None and np.abs(b).max() > 0:
                print(f"{name}: the ONNX has a bias the yaml's layer cannot hold", file=sys.stderr)
                return 2

    import cv2
    import onnxruntime as ort

    def load(p):
        im = (
            cv2.resize(cv2.imread(p), (imgsz[1], imgsz[0]))[:, :, ::-1]
            .transpose(2, 0, 1)[None]
            .astype(np.float32)
            / 255
        )
        return np.ascontiguousarray(im)

    if args.calibrate:
        calibrate_batchnorm(net, bn_of, modules, convs, [load(p) for p in args.calibrate])
        print(f"BatchNorm statistics from {len(args.calibrate)} images")

    # check against ONNX Runtime on real pixels
    sess = ort.InferenceSession(str(args.onnx), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    samples = [rng.random((1, 3, imgsz[0], imgsz[1]), dtype=np.float32)]
    samples += [load(p) for p in args.images]
    worst = 0.0
    with torch.no_grad():
        for x in samples:
            ref = sess.run(None, {sess.get_inputs()[0].name: x})[0]
            got = net(torch.from_numpy(x))[0].numpy()
            worst = max(worst, float(np.abs(ref - got).max()))
    print(
        f"rebuilt {len(convs)} convs; worst |torch - onnxruntime| = {worst:.2e} on {len(samples)} "
        "inputs"
    )
    if worst > 1e-2:
        print("the rebuilt model disagrees with the ONNX file: not written", file=sys.stderr)
        return 1
    ckpt = {
        "model": net,
        "train_args": {"imgsz": imgsz[0], "task": "detect"},
        "date": meta.get("date"),
        "version": meta.get("version"),
        "license": meta.get("license"),
        "docs": f"rebuilt from {args.onnx.name} by scripts/onnx_to_pt.py",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, args.out)
    print(f"wrote {args.out}")
    return 0


def calibrate_batchnorm(net, bn_of, modules, convs, images) -> None:
    """Give every BatchNorm its conv's output statistics, keeping the fused network exact in eval mode."""
    import torch

    sums: dict = {}

    def hook(name):
        def record(_mod, _inp, out):
            x = out.detach().double().transpose(0, 1).reshape(out.shape[1], -1)
            s0, s1, s2 = sums.get(name, (0, 0.0, 0.0))
            sums[name] = (s0 + x.shape[1], s1 + x.sum(1), s2 + (x * x).sum(1))

        return record

    handles = [modules[n].register_forward_hook(hook(n)) for n in convs if id(modules[n]) in bn_of]
    with torch.no_grad():
        for x in images:
            net(torch.from_numpy(x))
    for h in handles:
        h.remove()
    with torch.no_grad():
        for name, (n, s1, s2) in sums.items():
            bn = bn_of[id(modules[name])]
            mean = s1 / n
            var = (s2 / n - mean * mean).clamp_min(1e-6)
            bias = bn.bias.detach().double().clone()  # the fused conv bias, set above
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
            bn.bias.copy_((mean + bias).float())


if __name__ == "__main__":
    raise SystemExit(main())
