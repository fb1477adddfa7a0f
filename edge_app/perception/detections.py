"""The vocabulary of perception: a frame's boxes as supervision-style parallel arrays.

>>> dets = Detections(np.array([[0, 0, 10, 10]], np.float32), np.array([0.9], np.float32),
...                   np.array([1], np.int32), ("person", "bottle"))
>>> dets.labels(), len(dets.filter(dets.score > 0.95))
(['bottle'], 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edge_app.perception.boxes import boxes_outside
from edge_app.perception.decoders import MAX_DET, decode_end2end, decode_raw, decode_yolox
from edge_app.perception.letterbox import Letterbox
from edge_app.perception.models import ModelError, ModelSpec


@dataclass
class Detections:
    """Detections of one frame in original-image pixels, one row per object."""

    xyxy: np.ndarray  # (N, 4) float32
    score: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int32
    names: tuple[str, ...]  # class names of the model
    keypoints: np.ndarray | None = None  # (N, K, 3) x, y, conf (pose models, hand points)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        self.score = np.asarray(self.score, np.float32).reshape(-1)
        self.class_id = np.asarray(self.class_id, np.int32).reshape(-1)
        self.names = tuple(self.names)
        n = len(self.xyxy)
        if len(self.score) != n or len(self.class_id) != n:
            raise ValueError(
                f"xyxy has {n} rows, score {len(self.score)}, class_id {len(self.class_id)}"
            )
        if self.keypoints is not None:
            self.keypoints = np.asarray(self.keypoints, np.float32)
            if self.keypoints.ndim != 3 or len(self.keypoints) != n or self.keypoints.shape[2] != 3:
                raise ValueError(f"keypoints must be (N={n}, K, 3), got {self.keypoints.shape}")

    @classmethod
    def empty(cls, names: Sequence[str] = (), keypoints: int = 0) -> Detections:
        kp = np.zeros((0, keypoints, 3), np.float32) if keypoints else None
        return cls(
            np.zeros((0, 4), np.float32),
            np.zeros(0, np.float32),
            np.zeros(0, np.int32),
            tuple(names),
            kp,
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def labels(self) -> list[str]:
        """Class name of every row (``"class<N>"`` when the model has no name for it)."""
        return [
            self.names[c] if 0 <= c < len(self.names) else f"class{c}"
            for c in self.class_id.tolist()
        ]

    def filter(self, mask: np.ndarray | Sequence[bool] | Sequence[int]) -> Detections:
        """Rows selected by a boolean mask or an index array, as a new Detections."""
        idx = np.asarray(mask)
        if idx.dtype != bool:
            idx = idx.astype(np.int64).reshape(-1)
        kp = None if self.keypoints is None else self.keypoints[idx]
        return Detections(self.xyxy[idx], self.score[idx], self.class_id[idx], self.names, kp)

    def merge(self, other: Detections) -> Detections:
        """These rows, then ``other``'s (same model, same names)."""
        if not len(other):
            return self
        if not len(self):
            return other
        kp = None
        if self.keypoints is not None and other.keypoints is not None:
            kp = np.concatenate([self.keypoints, other.keypoints])
        return Detections(
            np.concatenate([self.xyxy, other.xyxy]),
            np.concatenate([self.score, other.score]),
            np.concatenate([self.class_id, other.class_id]),
            self.names,
            kp,
        )

    def outside(self, region: Sequence[float]) -> Detections:
        """Rows whose boxes do not touch ``region`` (x0, y0, x1, y1)."""
        return self.filter(boxes_outside(self.xyxy, region))

    @property
    def centers(self) -> np.ndarray:
        return np.stack(
            [(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2],
            axis=1,
        )

    def to_json(self) -> list[dict]:
        """The ``edge-app predict --json`` rows: class, score, xyxy (and keypoints)."""
        rows = []
        for i, label in enumerate(self.labels()):
            row = {
                "class": label,
                "score": round(float(self.score[i]), 4),
                "xyxy": [round(float(v), 2) for v in self.xyxy[i]],
            }
            if self.keypoints is not None:
                row["keypoints"] = [[round(float(v), 2) for v in kp] for kp in self.keypoints[i]]
            rows.append(row)
        return rows

    @classmethod
    def from_onnx_yolo(
        cls,
        output: np.ndarray,
        *,
        spec: ModelSpec,
        letterbox: Letterbox,
        conf: float = 0.25,
        iou: float = 0.7,
        max_det: int = MAX_DET,
        agnostic: bool = False,
    ) -> Detections:
        """Decode one Ultralytics/YOLOX output tensor into image-pixel detections."""
        nc, k = len(spec.names), spec.keypoints
        fmt = spec.output_format
        if fmt in ("raw", "pose_raw"):
            rows = decode_raw(output, conf=conf, iou=iou, nc=nc, max_det=max_det, agnostic=agnostic)
        elif fmt in ("end2end", "pose_end2end"):
            rows = decode_end2end(output, conf=conf, max_det=max_det)
        elif fmt == "yolox":
            rows = decode_yolox(
                output, input_size=spec.input_size, conf=conf, iou=iou, max_det=max_det
            )
        else:
            raise ModelError(
                f"model {spec.name!r} has format {fmt!r}, which is not a YOLO detector output"
            )
        boxes = letterbox.boxes_to_image(rows[:, :4])
        kp = None
        if fmt in ("pose_raw", "pose_end2end"):
            if rows.shape[1] < 6 + 3 * k:
                raise ModelError(
                    f"model {spec.name!r}: {rows.shape[1] - 6} extra channels, {k} keypoints need "
                    f"{3 * k}"
                )
            kp = letterbox.points_to_image(rows[:, 6 : 6 + 3 * k].reshape(-1, k, 3))
        return cls(boxes, rows[:, 4], rows[:, 5].astype(np.int32), spec.names, kp)
