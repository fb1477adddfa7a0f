"""One rendered frame of a scene, in the look it asks for (classic demo counter or kiosk)."""

from __future__ import annotations

import numpy as np

from edge_app.sim.kiosk import render_kiosk
from edge_app.sim.scene import Scene, render_classic


def render(scene: Scene, t: float, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """One frame at time t, and the boxes of every visible item (for YOLO labels)."""
    if scene.look is not None:
        return render_kiosk(scene, t, rng)
    return render_classic(scene, t, rng)
