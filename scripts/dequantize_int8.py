"""Rebuild an fp32 graph from an onnxruntime dynamic-int8 YOLO export.

Why: on x86 CPUs without VNNI, ONNX Runtime's ConvInteger path is slower
than plain fp32 Conv (YOLO11n-320: 22 ms int8 vs 12.5 ms fp32 per frame on
the 2-core dev box), and no fp32 Ultralytics weights can be downloaded here.
Each ``DynamicQuantizeLinear -> ConvInteger -> Cast -> Mul(scale)`` chain is
replaced by one ``Conv`` whose weights are the dequantised int8 weights
``(w_q - zero_point) * scale``; everything else (bias ``Add``, the head, the
metadata Ultralytics needs) is kept. The result carries the int8 model's
weight rounding, not the original fp32 weights: it is validated against
Ultralytics' own predictor on the same file (tests/perception/test_yolo_vs_ultralytics.py).

    .venv/bin/python scripts/dequantize_int8.py \\
        models/yolo11n-coco-int8-320.onnx models/yolo11n-coco-fp32dq-320.onnx

Needs the ``onnx`` package (in the dev extra), never the edge runtime.
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import onnx
from onnx import helper
from onnx import numpy_helper as nh


def dequantize(model: onnx.ModelProto) -> onnx.ModelProto:
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    remove, new_inits = set(), []
    for n in list(g.node):
        if n.op_type != "ConvInteger":
            continue
        xq, wq, _xzp, wzp = n.input
        x = producer[xq].input[0]  # the float activation before DynamicQuantizeLinear
        cast = consumers[n.output[0]][0]
        mul = consumers[cast.output[0]][0]
        scale_node = producer[mul.input[1]]  # activation scale * weight scale
        wscale = nh.to_array(inits[scale_node.input[1]]).astype(np.float32)
        zp = nh.to_array(inits[wzp]).astype(np.float32)
        w = nh.to_array(inits[wq]).astype(np.float32)
        w = w - (zp.reshape(-1, 1, 1, 1) if zp.ndim else float(zp))
        w = w * (wscale.reshape(-1, 1, 1, 1) if wscale.ndim else wscale)
        name = wq + "_fp32"
        new_inits.append(nh.from_array(w.astype(np.float32), name))
        conv = helper.make_node("Conv", [x, name], [mul.output[0]], name=n.name + "_fp32")
        conv.attribute.extend(n.attribute)
        g.node.insert(list(g.node).index(n), conv)
        remove |= {id(n), id(cast), id(mul)}
    for n in list(g.node):
        if id(n) in remove:
            g.node.remove(n)
    g.initializer.extend(new_inits)
    outputs = {o.name for o in g.output}
    while True:  # drop what only fed the removed chains
        used = {i for n in g.node for i in n.input} | outputs
        dead = [n for n in g.node if not any(o in used for o in n.output)]
        if not dead:
            break
        for n in dead:
            g.node.remove(n)
    used = {i for n in g.node for i in n.input}
    keep = [i for i in g.initializer if i.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    meta = {p.key: p for p in model.metadata_props}
    if "onnx.infer" in meta:
        model.metadata_props.remove(meta["onnx.infer"])
    onnx.checker.check_model(model)
    return model


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("int8_model")
    ap.add_argument("out")
    args = ap.parse_args()
    model = dequantize(onnx.load(args.int8_model))
    print(dict(collections.Counter(n.op_type for n in model.graph.node)))
    onnx.save(model, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
