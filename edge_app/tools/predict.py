"""``edge-app predict``: run a detector on photos, print what it sees in image pixels.

The quickest way to check a model file on a kiosk (and what the Ultralytics
cross-check test drives): ``edge-app predict --model models/yolo11n-coco-int8-320.onnx
photo.jpg --json`` prints one JSON object per image:
``{"image", "detections": [{"class", "score", "xyxy", "keypoints"?}]}``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2

from edge_app.perception.models import ModelError
from edge_app.perception.yolo import YoloDetector


def predict_images(
    model: str | Path,
    images: Sequence[str | Path],
    *,
    conf: float = 0.25,
    iou: float = 0.7,
    provider: str = "cpu",
    threads: int = 0,
    detector: YoloDetector | None = None,
) -> list[dict]:
    """One ``{"image", "detections"}`` dict per image; raises ModelError / FileNotFoundError."""
    det = detector or YoloDetector(model, conf=conf, iou=iou, provider=provider, threads=threads)
    out = []
    for image in images:
        frame = cv2.imread(str(image), cv2.IMREAD_COLOR)
        if frame is None:
            raise FileNotFoundError(f"{image}: not a readable image")
        out.append({"image": str(image), "detections": det.detect(frame).to_json()})
    return out


def _format_text(result: dict) -> str:
    lines = [f"{result['image']}: {len(result['detections'])} detections"]
    for d in result["detections"]:
        x1, y1, x2, y2 = d["xyxy"]
        lines.append(
            f"  {d['class']:<14} {d['score']:.3f}  [{x1:.0f}, {y1:.0f}, {x2:.0f}, {y2:.0f}]"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    try:
        results = predict_images(
            args.model,
            args.images,
            conf=args.conf,
            iou=args.iou,
            provider=args.provider,
            threads=args.threads,
        )
    except ModelError as exc:
        print(f"edge-app predict: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"edge-app predict: {exc}", file=sys.stderr)
        return 2
    for r in results:
        print(json.dumps(r) if args.json else _format_text(r))
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        required=True,
        help="ONNX file (checked against models/manifest.yaml when listed)",
    )
    p.add_argument("images", nargs="+", help="image files")
    p.add_argument("--json", action="store_true", help="one JSON object per image")
    p.add_argument("--conf", type=float, default=0.25, help="score threshold (default 0.25)")
    p.add_argument(
        "--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7, as Ultralytics)"
    )
    p.add_argument("--provider", default="cpu", choices=["cpu", "cuda", "tensorrt", "openvino"])
    p.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)"
    )


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``predict`` to the CLI's ``add_subparsers()``; ``args.func(args)`` returns the exit code."""
    p = subparsers.add_parser("predict", help="run a detector on images and print its detections")
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="edge-app predict", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
