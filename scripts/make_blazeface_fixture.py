"""MediaPipe's own face detections on the test photos: the reference the ONNX BlazeFace is held to.

Runs MediaPipe's short-range face detection (the legacy ``solutions`` API,
the graph and .tflite of the wheel) on whole photos and writes
``tests/assets/faces/mediapipe_reference.json``; ``tests/perception/test_faces.py``
checks that ``edge_app.perception.faces.BlazeFace`` (ONNX Runtime, whole frame,
threshold 0.5 as MediaPipe's default) finds the same faces. Run once, offline,
in a throwaway venv (mediapipe 0.10.14 wants numpy < 2)::

    python3.11 -m venv /tmp/mp && /tmp/mp/bin/pip install mediapipe==0.10.14 "numpy<2" \\
        "opencv-python-headless<4.11" "protobuf<5"
    /tmp/mp/bin/python scripts/make_blazeface_fixture.py
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import mediapipe as mp

PHOTOS = [
    "faces/keijiro-Test1.jpg",
    "faces/keijiro-Test3.jpg",
    "faces/keijiro-Test7.jpg",
    "faces/mps-testImg.jpg",
    "faces/mps-business-person.jpg",
    "faces/mps-pose-test_image.jpg",
    "hands/pexels-natalie-3759656.jpg",
    "hands/pexels-ricardo-utsumi-1314554.jpg",
]


def main() -> None:
    assets = Path("tests/assets")
    out = {
        "_note": "MediaPipe 0.10.14 face_detection (model_selection=0, min_detection_confidence="
        "0.5) on the whole photo: score, x1, y1, x2, y2 in the photo's pixels "
        "(scripts/make_blazeface_fixture.py)",
        "detections": {},
    }
    with mp.solutions.face_detection.FaceDetection(
        model_selection=0, min_detection_confidence=0.5
    ) as fd:
        for rel in PHOTOS:
            img = cv2.imread(str(assets / rel))
            h, w = img.shape[:2]
            res = fd.process(cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
            rows = []
            for d in res.detections or []:
                b = d.location_data.relative_bounding_box
                x1, y1 = b.xmin * w, b.ymin * h
                box = [x1, y1, x1 + b.width * w, y1 + b.height * h]
                rows.append([round(float(d.score[0]), 4), *(round(v, 1) for v in box)])
            out["detections"][rel] = rows
            print(rel, len(rows))
    (assets / "faces" / "mediapipe_reference.json").write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
