"""The models of one lane camera, built from ``models:`` in the lane file."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge_app.config import ModelsConfig
from edge_app.perception.detector import Detector
from edge_app.perception.filters import ClassRoles
from edge_app.perception.hands import HandBackend, make_hand_backend
from edge_app.perception.models import ModelError
from edge_app.perception.yolo import YoloDetector


@dataclass(frozen=True)
class LaneModels:
    """The product detector, the hand backend and what each product-model class is.

    ``hands`` is None when the product model sees hands itself, or the lane tracks none.
    """

    detector: Detector
    hands: HandBackend | None
    classes: ClassRoles


def build_models(
    m: ModelsConfig,
    resolve: Callable[[str], Path],
    *,
    parallel: int,
    session_config: dict[str, str],
    detector: Detector | None = None,
    hands: HandBackend | None = None,
) -> LaneModels:
    """Open the lane's models (``detector`` and ``hands``, when given, replace the configured ones).

    Raises ``ModelError`` for a model that fails verification, and for a
    ``detector`` hands backend whose product model has no hand class.
    """
    # Parallel frames: each run gets one core unless the lane says otherwise.
    threads = m.threads or (1 if parallel > 1 else 0)
    detector = detector or YoloDetector(
        resolve(m.products.path),
        conf=m.products.conf,
        iou=m.products.iou,
        provider=m.execution_provider,
        threads=threads,
        expected_sha256=m.products.sha256,
        # a model must be in models/manifest.yaml or carry its sha256 in the lane file
        require_manifest=m.products.sha256 is None,
        session_config=session_config,
    )
    names = detector.names
    hand_class = None
    if hands is None and m.hands.backend == "detector":
        # the product model's own hand class: free hand boxes, no second model
        if m.hands.detector_class not in names:
            raise ModelError(
                f"models.hands: the product model has no {m.hands.detector_class!r} class "
                f"(it has {', '.join(names[:8])}…); use another hands backend"
            )
        hand_class = m.hands.detector_class
    elif hands is None:
        hands = make_hand_backend(
            m.hands, resolve, provider=m.execution_provider, threads=m.threads
        )
    classes = ClassRoles.of(names, wanted=m.products.classes, hand_class=hand_class)
    return LaneModels(detector, hands, classes)
