"""YOLO on ONNX Runtime: a verified model, a BGR frame in, ``Detections`` out.

The parts are pure and tested alone: :mod:`~edge_app.perception.letterbox`
(Ultralytics' letterbox and its inverse), :mod:`~edge_app.perception.decoders`
(raw, end-to-end, pose and YOLOX heads, decoded exactly as their authors
decode them) and :mod:`~edge_app.perception.boxes` (NMS). This module is the
imperative shell around them: one session, per-thread input buffers, and the
region crops of dynamic-input models (:class:`~edge_app.perception.detector.StagedDetector`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from edge_app.perception.decoders import MAX_DET
from edge_app.perception.detections import Detections
from edge_app.perception.detector import StagedDetector
from edge_app.perception.letterbox import STRIDE, InputBuffer, Letterbox, to_input_tensor
from edge_app.perception.models import LoadedModel, ModelError, open_model

log = logging.getLogger(__name__)

#: what callers of the YOLO backend import from here (the parts live in their own modules)
__all__ = ["YoloDetector", "Detections", "Letterbox", "to_input_tensor"]


class YoloDetector(StagedDetector):
    """One verified YOLO model on ONNX Runtime: BGR frame in, Detections out.

    ``detect`` is the whole per-frame path: letterbox, run, decode. Pose
    models fill ``Detections.keypoints`` (17 COCO points; 9/10 = wrists).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        conf: float = 0.25,
        iou: float = 0.7,
        provider: str = "cpu",
        threads: int = 0,
        expected_sha256: str | None = None,
        max_det: int = MAX_DET,
        require_manifest: bool = False,
        session_config: dict[str, str] | None = None,
    ):
        self.model: LoadedModel = open_model(
            path,
            provider=provider,
            threads=threads,
            expected_sha256=expected_sha256,
            require_manifest=require_manifest,
            session_config=session_config,
        )
        spec = self.model.spec
        if spec.task not in ("detect", "pose"):
            raise ModelError(
                f"{path}: model {spec.name!r} is a {spec.task!r} model, not a YOLO detector"
            )
        self.spec = spec
        self.conf, self.iou, self.max_det = conf, iou, max_det
        self.input_size: tuple[int, int] = spec.input_size
        self.names: tuple[str, ...] = spec.names
        self.task: str = spec.task
        self._yolox = spec.output_format == "yolox"
        #: the graph takes any size: letterbox to the smallest stride multiple
        #: that holds the frame (Ultralytics' ``auto``), and detect regions
        self.dynamic = spec.dynamic and not self._yolox
        #: one reused input buffer per calling thread: frames may be detected in parallel
        self._local = threading.local()
        #: letterbox plans by image size (immutable, so threads may share them)
        self._plans: dict[tuple[int, int], Letterbox] = {}

    @property
    def providers(self) -> list[str]:
        return self.model.providers

    @property
    def supports_regions(self) -> bool:
        """A dynamic-input graph detects a region at the scale of the whole frame (YOLOX: fixed input)."""
        return self.dynamic

    def letterbox_for(self, image_size: tuple[int, int]) -> Letterbox:
        lb = self._plans.get(image_size)  # region planning asks several times a frame
        if lb is None:
            lb = Letterbox.plan(
                image_size, self.input_size, center=not self._yolox, floor=self._yolox
            )
            if self.dynamic:  # a 4:3 camera at 320 wide needs 320x256, not 320x320
                nw, nh = lb.new_size
                lb = Letterbox.plan(
                    image_size, (-(-nw // STRIDE) * STRIDE, -(-nh // STRIDE) * STRIDE)
                )
            self._plans[image_size] = lb
        return lb

    def region_rect(
        self,
        image_size: tuple[int, int],
        region: Sequence[float],
        *,
        pad: int = 32,
        min_side: int = 128,
        max_area: float = 0.6,
    ) -> tuple[int, int, int, int] | None:
        """The input rectangle to detect an image region in, or None for the whole frame.

        ``region`` is x0, y0, x1, y1 in image pixels. The rectangle is padded by
        ``pad`` input pixels, its sides rounded up to stride multiples (at least
        ``min_side``) and kept inside the input; None when the model takes one
        size only or when the rectangle would be over ``max_area`` of the input.
        """
        if not self.dynamic:
            return None
        lb = self.letterbox_for(image_size)
        gx, gy = lb.gain
        W, H = lb.input_size
        x0, y0, x1, y1 = region
        cx0, cx1 = x0 * gx + lb.left - pad, x1 * gx + lb.left + pad
        cy0, cy1 = y0 * gy + lb.top - pad, y1 * gy + lb.top + pad
        rect = []
        for lo, hi, side in ((cx0, cx1, W), (cy0, cy1, H)):
            n = min(side, max(min_side, -(-int(np.ceil(hi - lo)) // STRIDE) * STRIDE))
            start = int(round((lo + hi - n) / 2))
            start = min(max(start, 0), side - n)
            rect.append((start, start + n))
        (rx0, rx1), (ry0, ry1) = rect
        if (rx1 - rx0) * (ry1 - ry0) > max_area * W * H:
            return None
        return rx0, ry0, rx1, ry1

    def rect_to_image(
        self, image_size: tuple[int, int], rect: Sequence[int]
    ) -> tuple[float, float, float, float]:
        """An input rectangle's extent in image pixels (clipped to the image)."""
        b = self.letterbox_for(image_size).boxes_to_image(np.asarray(rect, np.float32))[0]
        return float(b[0]), float(b[1]), float(b[2]), float(b[3])

    def _buffer(self, image_size: tuple[int, int]) -> InputBuffer:
        buf = getattr(self._local, "buf", None)
        if buf is None or buf.lb.image_size != image_size:
            buf = self._local.buf = InputBuffer(
                self.letterbox_for(image_size), self.spec.colour, 1.0 if self._yolox else 255.0
            )
        return buf

    def preprocess(
        self, frame_bgr: np.ndarray, rect: tuple[int, int, int, int] | None = None
    ) -> tuple[np.ndarray, Letterbox]:
        """Letterbox into this detector's reused input tensor (valid until the next call).

        With ``rect`` (from :meth:`region_rect`) only that part of the input.
        """
        if frame_bgr is None or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(
                f"expected an HxWx3 BGR frame, got {None if frame_bgr is None else frame_bgr.shape}"
            )
        h, w = frame_bgr.shape[:2]
        buf = self._buffer((w, h))
        if rect is not None:
            return buf.fill_region(frame_bgr, rect)
        return buf.fill(frame_bgr), buf.lb

    def infer(self, x: np.ndarray) -> np.ndarray:
        return self.model.run(x)[0]

    def decode(self, out: np.ndarray, lb: Letterbox) -> Detections:
        return Detections.from_onnx_yolo(
            out, spec=self.spec, letterbox=lb, conf=self.conf, iou=self.iou, max_det=self.max_det
        )

    def detect(self, frame_bgr: np.ndarray) -> Detections:
        """``preprocess`` → ``infer`` → ``decode``: the whole per-frame path."""
        x, lb = self.preprocess(frame_bgr)
        return self.decode(self.infer(x), lb)
