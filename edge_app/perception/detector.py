"""What perception needs of a product detector, declared rather than guessed.

A :class:`Detector` turns a BGR frame into ``Detections``; that is all a test
double or another backend must offer. A :class:`StagedDetector` also runs its
frame path as three calls (letterbox, session, decode), so the lane times
them apart and, when :attr:`~StagedDetector.supports_regions`, detects only
the part of a frame that moved (``models.motion_regions``). ``YoloDetector``
is the staged one; the hand backends answer another question (hand points,
not products) behind :class:`~edge_app.perception.hands.HandBackend`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from edge_app.perception.detections import Detections
from edge_app.perception.letterbox import Letterbox
from edge_app.perception.models import ModelSpec

#: a rectangle of the network input (x0, y0, x1, y1, input pixels)
InputRect = tuple[int, int, int, int]
#: a rectangle of the image (x0, y0, x1, y1, image pixels)
Extent = tuple[float, float, float, float]


class Detector(Protocol):
    """BGR frame in, the model's detections in image pixels out."""

    #: the model's manifest entry (the lane reports its name)
    spec: ModelSpec
    #: class names of the model, by class id
    names: tuple[str, ...]

    def detect(self, frame_bgr: np.ndarray) -> Detections: ...


@runtime_checkable
class StagedDetector(Detector, Protocol):
    """A detector whose frame path is ``decode(infer(preprocess(frame)))``, optionally on a region."""

    @property
    def supports_regions(self) -> bool:
        """Whether the model takes any input size, so a region can be detected alone."""
        ...

    def letterbox_for(self, image_size: tuple[int, int]) -> Letterbox: ...

    def region_rect(self, image_size: tuple[int, int], region: Sequence[float]) -> InputRect | None:
        """The input rectangle that holds an image region, or None for the whole frame."""
        ...

    def rect_to_image(self, image_size: tuple[int, int], rect: Sequence[int]) -> Extent:
        """An input rectangle's extent in image pixels."""
        ...

    def preprocess(
        self, frame_bgr: np.ndarray, rect: InputRect | None = None
    ) -> tuple[np.ndarray, Letterbox]: ...

    def infer(self, x: np.ndarray) -> np.ndarray: ...

    def decode(self, out: np.ndarray, lb: Letterbox) -> Detections: ...
