"""Baseline for `edge-app bench --baseline ultralytics`: Ultralytics' own tracking pipeline.

Runs ``YOLO(model).track(video, stream=True)`` — Ultralytics' decode,
letterbox, ONNX Runtime session, NMS and ByteTrack — on the same video and
the same ONNX file as the lane, and prints one JSON line. It runs in its own
interpreter (Ultralytics pulls torch and opencv-python, which never enter the
kiosk runtime); the bench starts it as a subprocess:

    YOLO_OFFLINE=1 /tmp/ulvenv/bin/python scripts/bench_ultralytics.py \\
        --model models/yolo11n-coco-int8-320.onnx --video calibration/demo/session-001/video.mp4

Nothing is downloaded (YOLO_OFFLINE=1; ``bytetrack.yaml`` ships with Ultralytics),
so the interpreter needs onnxruntime itself (Ultralytics would try to pip it):

    python3 -m venv /tmp/ulvenv && /tmp/ulvenv/bin/pip install torch==2.14.1 torchvision==0.29.1 \
        ultralytics lap onnx onnxslim onnxruntime==1.32.0
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--video", required=True)
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument("--conf", type=float, default=0.25)
    p.add_argument("--iou", type=float, default=0.7)
    p.add_argument(
        "--classes", default="", help="comma-separated class ids (the lane's product classes)"
    )
    p.add_argument("--tracker", default="bytetrack.yaml")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--max-frames", type=int, default=0)
    args = p.parse_args(argv)

    import ultralytics
    from ultralytics import YOLO

    classes = [int(c) for c in args.classes.split(",") if c.strip()] or None
    model = YOLO(args.model, task="detect")
    # warm-up: builds the ONNX Runtime session, as the lane does before its first frame
    import cv2

    cap = cv2.VideoCapture(args.video)
    ok, first = cap.read()
    cap.release()
    if not ok:
        print(f"cannot read {args.video}", file=sys.stderr)
        return 1
    model.predict(first, imgsz=args.imgsz, conf=args.conf, iou=args.iou, verbose=False)

    runs, speeds, frames = [], [], 0
    for _ in range(max(1, args.repeat)):
        n = 0
        sp = {"preprocess": [], "inference": [], "postprocess": []}
        t0 = time.perf_counter()
        for r in model.track(
            source=args.video,
            stream=True,
            imgsz=args.imgsz,
            conf=args.conf,
            iou=args.iou,
            classes=classes,
            tracker=args.tracker,
            persist=False,
            verbose=False,
        ):
            n += 1
            for k in sp:
                sp[k].append(float(r.speed.get(k) or 0.0))
            if args.max_frames and n >= args.max_frames:
                break
        dt = time.perf_counter() - t0
        runs.append(n / dt)
        speeds.append({k: statistics.median(v) if v else 0.0 for k, v in sp.items()})
        frames = n
    try:
        import torch

        torch_v, torch_threads = torch.__version__, torch.get_num_threads()
    except Exception:  # pragma: no cover - Ultralytics needs torch
        torch_v, torch_threads = None, None
    print(
        json.dumps(
            {
                "fps": round(statistics.median(runs), 2),
                "fps_runs": [round(r, 2) for r in runs],
                "frames": frames,
                "speed_ms_p50": {
                    k: round(statistics.median(s[k] for s in speeds), 2) for k in speeds[0]
                },
                "ultralytics": ultralytics.__version__,
                "torch": torch_v,
                "torch_threads": torch_threads,
                "pipeline": f"YOLO({os.path.basename(args.model)}).track("
                f"stream=True, tracker={args.tracker}, imgsz={args.imgsz})",
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
