"""Tiny ONNX graphs that output a fixed tensor: stand-ins for exports we have no file of.

They let the whole YoloDetector path (session, metadata, decode, un-letterbox)
run for end-to-end and pose formats. Needs the ``onnx`` package (test only).
"""

from pathlib import Path

import numpy as np


def constant_model(
    path: Path, output: np.ndarray, *, input_hw=(64, 64), metadata=None, out_name="output0"
) -> Path:
    """Input ``images`` [1,3,H,W] → ``out_name`` = output + 0·mean(images)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    output = np.asarray(output, np.float32)
    h, w = input_hw
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["m0"]),
        helper.make_node("Add", ["const", "m0"], [out_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, h, w])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, list(output.shape))],
        [
            numpy_helper.from_array(output, "const"),
            numpy_helper.from_array(np.zeros((), np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, str(v)
    onnx.checker.check_model(model)
    path.write_bytes(model.SerializeToString())
    return path
