"""Detection training sets (Ultralytics YOLO format) from the scene renderer.

Each image is one frame of a freshly planned kiosk transaction (new look,
new items, new shopper) at a random moment, most of them while a hand carries
an item; a share are frames in the classic demo look (bottles on the plain
counter), so a model trained here also sees the bundled demo's items, and a
share (``stack_fraction``) are frames of two items stacked in one hand, the
``multi_item`` case, which a plain mix shows in about one frame in twelve and
where the occluded second item is the one the lane must not lose. The labels
are the renderer's own boxes, so they are exact.

```
DIR/data.yaml                 path, train, val, names (CLASSES)
DIR/images/{train,val}/*.jpg
DIR/labels/{train,val}/*.txt  one line per object: class cx cy w h (normalised)
```
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import yaml

from edge_app.sim.kiosk import CLASSES, LABEL_MIX, plan_kiosk_session
from edge_app.sim.render import render
from edge_app.sim.scene import PRODUCTS, Scene

DIFFICULTIES = ("easy", "normal", "normal", "hard")


def sample_frame(
    seed: int,
    index: int,
    size: tuple[int, int] = (320, 240),
    classic_fraction: float = 0.15,
    stack_fraction: float = 0.0,
):
    """One training frame and its boxes ``[(class_id, x0, y0, x1, y1)]``, reproducible from (seed, index)."""
    rng = np.random.default_rng([seed, index])
    stacked = (
        stack_fraction > 0 and np.random.default_rng([seed, index, 11]).random() < stack_fraction
    )
    w, h = size
    if not stacked and rng.random() < classic_fraction:
        from edge_app.sim.generate import random_plans

        plans = random_plans(int(rng.integers(1 << 30)), int(rng.integers(1, 4)), PRODUCTS)
        scene = Scene(
            width=w,
            height=h,
            items=plans,
            seed=int(rng.integers(1 << 30)),
            noise=float(rng.uniform(1, 5)),
        )
        p = plans[int(rng.integers(len(plans)))]
        t = float(rng.uniform(p.keys[0][0], p.keys[-1][0] + 0.5))
        frame, boxes = render(scene, t, rng)
        # the classic drawn arm sits under the bottle: only the bottles are labelled
        out = [(CLASSES.index("soda_bottle"), *b["xyxy"]) for b in boxes]
    else:
        session, t = _stacked_moment(rng) if stacked else _kiosk_moment(rng)
        scene = Scene(
            width=w, height=h, fps=15.0, items=session.items, look=session.look, end_s=session.end_s
        )
        frame, boxes = render(scene, t, rng)
        out = [(CLASSES.index(b["cls"]), *b["xyxy"]) for b in boxes]
    out = [b for b in out if b[3] - b[1] >= 3 and b[4] - b[2] >= 3]
    return frame, out


def _kiosk_moment(rng: np.random.Generator):
    """A random kiosk transaction and a moment in it, mostly while a hand carries an item."""
    difficulty = DIFFICULTIES[int(rng.integers(len(DIFFICULTIES)))]
    session = plan_kiosk_session(int(rng.integers(1 << 30)), int(rng.integers(1, 5)), difficulty)
    carried = [p for p in session.items if p.t_pick is not None and p.carrier is None]
    if carried and rng.random() < 0.8:
        p = carried[int(rng.integers(len(carried)))]
        return session, float(rng.uniform(p.t_pick - 0.5, p.carried_until + 0.5))
    return session, float(rng.uniform(0.0, session.end_s))


def _stacked_moment(rng: np.random.Generator):
    """A transaction with a ``multi_item`` stack and a moment while the hand carries it, pick to landing."""
    difficulty = DIFFICULTIES[int(rng.integers(len(DIFFICULTIES)))]
    mix = [lab for lab in LABEL_MIX[difficulty] if lab != "scan_without_item"]
    labels = [mix[int(rng.integers(len(mix)))] for _ in range(int(rng.integers(0, 3)))]
    labels.insert(int(rng.integers(len(labels) + 1)), "multi_item")
    session = plan_kiosk_session(int(rng.integers(1 << 30)), len(labels), difficulty, labels=labels)
    extras = [p for p in session.items if p.carrier is not None]
    p = extras[int(rng.integers(len(extras)))]
    return session, float(rng.uniform(p.t_pick, p.carried_until + 0.3))


def yolo_lines(boxes, size: tuple[int, int]) -> str:
    w, h = size
    return "".join(
        f"{c} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}\n"
        for c, x0, y0, x1, y1 in boxes
    )


def write_dataset(
    out: Path,
    seed: int,
    images: int,
    val_fraction: float = 0.15,
    size: tuple[int, int] = (320, 240),
    classic_fraction: float = 0.15,
    stack_fraction: float = 0.0,
) -> Path:
    """Write ``images`` frames (the last ``val_fraction`` of them as the val split) and ``data.yaml``."""
    out = Path(out)
    n_val = int(round(images * val_fraction))
    counts = {"train": 0, "val": 0}
    for split in counts:
        (out / "images" / split).mkdir(parents=True, exist_ok=True)
        (out / "labels" / split).mkdir(parents=True, exist_ok=True)
    for i in range(images):
        split = "val" if i >= images - n_val else "train"
        frame, boxes = sample_frame(seed, i, size, classic_fraction, stack_fraction)
        q = int(np.random.default_rng([seed, i, 7]).integers(70, 96))
        name = f"s{seed}_{i:06d}"
        cv2.imwrite(
            str(out / "images" / split / f"{name}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, q]
        )
        (out / "labels" / split / f"{name}.txt").write_text(yolo_lines(boxes, size))
        counts[split] += 1
    data = {
        "path": str(out.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(CLASSES)),
        "generator": {
            "seed": seed,
            "images": images,
            "val_fraction": val_fraction,
            "size": list(size),
            "classic_fraction": classic_fraction,
            "stack_fraction": stack_fraction,
            "counts": counts,
        },
    }
    (out / "data.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    return out / "data.yaml"
