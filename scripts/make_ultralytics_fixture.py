"""Write tests/perception/fixtures/ultralytics_predictions.json from Ultralytics itself.

Our decoder must agree with Ultralytics' own predictor on the same ONNX files,
so the reference comes from ``ultralytics.YOLO(...).predict``, never from our
code. Run it in a separate virtual environment (Ultralytics pulls torch and
opencv-python, which must never land in the kiosk runtime):

    python3 -m venv /tmp/ulvenv
    /tmp/ulvenv/bin/pip install torch torchvision ultralytics onnxruntime
    YOLO_OFFLINE=1 /tmp/ulvenv/bin/python scripts/make_ultralytics_fixture.py

Nothing is downloaded (YOLO_OFFLINE=1; the models and images are in the repo).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("YOLO_VERBOSE", "False")

ROOT = Path(__file__).resolve().parents[1]
MODELS = {
    "yolo11n-coco-int8-320.onnx": 320,
    "yolov8n-coco-int8-640.onnx": 640,
    "yolo11n-coco-fp32dq-320.onnx": 320,
}
CONF, IOU = 0.25, 0.7
OUT = ROOT / "tests" / "vision" / "fixtures" / "ultralytics_predictions.json"


def images() -> list[Path]:
    assets = ROOT / "tests" / "assets"
    return (
        [assets / "bus.jpg", assets / "zidane.jpg", assets / "retail" / "sample-bottle.jpg"]
        + sorted((assets / "grocery").glob("*.jpg"))
        + sorted((assets / "hands").glob("*.jpg"))
    )


def main() -> int:
    import ultralytics
    from ultralytics import YOLO

    cases = []
    for model_file, imgsz in MODELS.items():
        model = YOLO(str(ROOT / "models" / model_file), task="detect")
        for image in images():
            result = model.predict(str(image), imgsz=imgsz, conf=CONF, iou=IOU, verbose=False)[0]
            boxes = result.boxes
            cases.append(
                {
                    "model": f"models/{model_file}",
                    "image": str(image.relative_to(ROOT)),
                    "imgsz": imgsz,
                    "detections": [
                        {
                            "class": result.names[int(c)],
                            "score": float(s),
                            "xyxy": [float(v) for v in b],
                        }
                        for b, s, c in zip(
                            boxes.xyxy.tolist(),
                            boxes.conf.tolist(),
                            boxes.cls.tolist(),
                            strict=True,
                        )
                    ],
                }
            )
            print(f"{model_file} {image.name}: {len(boxes)} detections", file=sys.stderr)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "generator": "scripts/make_ultralytics_fixture.py",
                "ultralytics": ultralytics.__version__,
                "torch": __import__("torch").__version__,
                "onnxruntime": __import__("onnxruntime").__version__,
                "conf": CONF,
                "iou": IOU,
                "cases": cases,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {OUT.relative_to(ROOT)} ({len(cases)} cases)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
