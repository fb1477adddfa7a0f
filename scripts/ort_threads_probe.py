"""How fast is one ONNX model under each thread layout? (docs/BENCHMARKS.md, parallel frames)

One run on 1 or 2 intra-op threads, spinning on/off, and two Python threads
each calling ``run`` on one shared one-thread session (what the lane does with
``models.parallel_frames: 2``). A random 320x320 input; time only.

    .venv/bin/python scripts/ort_threads_probe.py models/yolo11n-coco-fp32dq-320.onnx
"""

import sys
import threading
import time

import numpy as np
import onnxruntime as ort

m = sys.argv[1]


def sess(threads, spin, seq=True):
    o = ort.SessionOptions()
    o.intra_op_num_threads = threads
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if not seq:
        o.execution_mode = ort.ExecutionMode.ORT_PARALLEL
    return ort.InferenceSession(m, o, providers=["CPUExecutionProvider"])


s0 = sess(1, False)
inp = s0.get_inputs()[0]
print(inp.shape, [o.shape for o in s0.get_outputs()])
x = np.random.rand(1, 3, 320, 320).astype(np.float32)


def lat(s, n=60):
    for _ in range(5):
        s.run(None, {inp.name: x})
    t = time.perf_counter()
    for _ in range(n):
        s.run(None, {inp.name: x})
    return (time.perf_counter() - t) / n * 1000


for th, sp in [(1, False), (2, False), (2, True), (1, True)]:
    print("threads", th, "spin", sp, f"{lat(sess(th, sp)):.1f} ms")
# two threads, one session intra 1
s = sess(1, False)


def work(n):
    for _ in range(n):
        s.run(None, {inp.name: x})


work(5)
t = time.perf_counter()
ts = [threading.Thread(target=work, args=(60,)) for _ in range(2)]
[a.start() for a in ts]
[a.join() for a in ts]
print("2 workers x 1 thread: %.1f ms/frame throughput" % ((time.perf_counter() - t) / 120 * 1000))
