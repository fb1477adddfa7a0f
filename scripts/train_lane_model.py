"""Train, export and validate the lane-view detector (products + hands) with Ultralytics.

Runs with the *training* interpreter (a venv with torch + ultralytics + onnx +
onnxslim), never in the kiosk environment; ``edge-app models train`` shells
out to it. No pretrained weights are downloaded: the network starts from the
YAML (``yolo11n.yaml``), so ``YOLO_OFFLINE=1`` is enough.

    YOLO_OFFLINE=1 nice -n 10 /tmp/ulvenv/bin/python scripts/train_lane_model.py \\
        --data /tmp/lane-ds/data.yaml --val-data /tmp/lane-val/data.yaml \\
        --project /tmp/lane-runs --name lane320 --epochs 40 --time-h 0.35 \\
        --onnx models/lane-products-hands-320.onnx --metrics /tmp/lane-runs/metrics.json

Steps: train (CPU, imgsz 320) -> export ONNX (opset 17, simplify, fp32,
``nms=False`` so the edge's raw decoder applies, dynamic input unless
``--static``) -> validate the exported
ONNX on the fresh validation set -> write mAP50 per class, products and hands
to ``--metrics``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")


def _per_class(metrics, names: dict) -> dict:
    box = metrics.box
    out = {}
    for i, c in enumerate(box.ap_class_index):
        out[names[int(c)]] = {
            "ap50": round(float(box.ap50[i]), 4),
            "ap50_95": round(float(box.ap[i]), 4),
        }
    return out


def summarise(metrics, names: dict) -> dict:
    per = _per_class(metrics, names)
    products = [v["ap50"] for k, v in per.items() if k != "hand"]
    return {
        "map50_all": round(float(metrics.box.map50), 4),
        "map50_95_all": round(float(metrics.box.map), 4),
        "map50_products": round(sum(products) / len(products), 4) if products else None,
        "ap50_hand": per.get("hand", {}).get("ap50"),
        "per_class": per,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data", required=True, help="data.yaml of the training set (edge-app sim dataset)"
    )
    p.add_argument(
        "--val-data", help="data.yaml of a freshly generated validation set (another seed)"
    )
    p.add_argument(
        "--model",
        default="yolo11n.yaml",
        help="architecture YAML (from scratch) or a .pt to fine-tune",
    )
    p.add_argument("--project", default="/tmp/lane-runs")
    p.add_argument("--name", default="lane320")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument(
        "--time-h", type=float, default=None, help="wall-clock budget in hours (overrides epochs)"
    )
    p.add_argument("--imgsz", type=int, default=320)
    p.add_argument(
        "--batch", type=int, default=8, help="small batches: more optimizer steps in a CPU budget"
    )
    p.add_argument("--optimizer", default="AdamW")
    p.add_argument("--lr0", type=float, default=0.002)
    p.add_argument(
        "--warmup-epochs", type=float, default=0.3, help="0 when fine-tuning a trained checkpoint"
    )
    p.add_argument(
        "--mosaic",
        type=float,
        default=0.0,
        help="frames are already whole scenes; mosaic slows a short run",
    )
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--onnx", help="copy the exported ONNX here")
    p.add_argument("--metrics", help="write the validation numbers here (JSON)")
    p.add_argument(
        "--static",
        action="store_true",
        help="export a fixed 320x320 input "
        "(default: dynamic, so the lane can letterbox 4:3 to 320x256 and detect regions)",
    )
    p.add_argument(
        "--skip-train", metavar="PT", help="do not train; export/validate this checkpoint"
    )
    args = p.parse_args(argv)

    from ultralytics import YOLO

    t0 = time.time()
    if args.skip_train:
        best = Path(args.skip_train)
    else:
        model = YOLO(args.model)
        train_args = dict(
            data=args.data,
            epochs=args.epochs,
            imgsz=args.imgsz,
            batch=args.batch,
            workers=args.workers,
            device=args.device,
            project=args.project,
            name=args.name,
            exist_ok=True,
            # a .pt start point must really be loaded (pretrained=False re-initialises it)
            pretrained=args.model if args.model.endswith(".pt") else False,
            amp=False,
            plots=False,
            close_mosaic=0,
            warmup_epochs=args.warmup_epochs,
            patience=100,
            seed=0,
            deterministic=False,
            optimizer=args.optimizer,
            lr0=args.lr0,
            cos_lr=False,
            fliplr=0.5,
            mosaic=args.mosaic,
            scale=0.3,
            translate=0.1,
            hsv_v=0.3,
            verbose=True,
        )
        if args.time_h:
            train_args["time"] = args.time_h
        model.train(**train_args)
        best = Path(args.project) / args.name / "weights" / "best.pt"
    train_s = time.time() - t0

    model = YOLO(str(best))
    names = model.names
    onnx_path = Path(
        model.export(
            format="onnx",
            imgsz=args.imgsz,
            opset=17,
            simplify=True,
            nms=False,
            half=False,
            dynamic=not args.static,
            device="cpu",
        )
    )
    if args.onnx:
        Path(args.onnx).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(onnx_path, args.onnx)
        onnx_path = Path(args.onnx)

    report = {
        "checkpoint": str(best),
        "onnx": str(onnx_path),
        "train_wall_s": round(train_s, 1),
        "names": names,
    }
    if args.val_data:
        for key, weights in (("pt", str(best)), ("onnx", str(onnx_path))):
            m = YOLO(weights, task="detect")
            metrics = m.val(
                data=args.val_data,
                imgsz=args.imgsz,
                batch=1 if key == "onnx" else 16,
                device="cpu",
                split="val",
                plots=False,
                verbose=False,
                conf=0.001,
                iou=0.7,
            )
            report[f"val_{key}"] = summarise(metrics, names)
    text = json.dumps(report, indent=2)
    print(text)
    if args.metrics:
        Path(args.metrics).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
