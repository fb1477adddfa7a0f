"""Write synthetic checkout scenarios (video + scanner bytes + truth) from a plan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
from stdnum import ean

from edge_app.sim.kiosk import Session
from edge_app.sim.render import render
from edge_app.sim.scene import LAYOUT, PRODUCTS, ItemPlan, Product, Scene, plan_journey
from edge_app.tools.scenario import ScannerChunk, ScenarioMeta, Truth, TruthJourney, write_scenario

# Far slots first, so a later item never passes over one already in the bag.
BAG_SLOTS = [(0.91, 0.52), (0.91, 0.84), (0.76, 0.52), (0.76, 0.84), (0.84, 0.68)]


def with_check_digit(gtin: str) -> str:
    """GTIN-14 with its check digit recomputed (the plan's numbers are made up).

    >>> with_check_digit("05449000000990")
    '05449000000996'
    """
    body = gtin[:-1]
    return body + ean.calc_check_digit(body)


def _inside(name: str, x: float, y: float) -> bool:
    x0, y0, x1, y1 = LAYOUT[name]
    return x0 <= x <= x1 and y0 <= y <= y1


def crossings(plan: ItemPlan, dt: float = 0.005) -> dict[str, float | None]:
    """Exact ground-truth times from the item's path and the zone rectangles."""
    t, end = plan.keys[0][0], plan.keys[-1][0]
    out: dict[str, float | None] = {"t_leave_pick": None, "t_over_scan": None, "t_land": None}
    was_pick = True
    while t <= end + dt:
        x, y = plan.position(t)  # type: ignore[misc]
        if was_pick and not _inside("pick", x, y) and out["t_leave_pick"] is None:
            out["t_leave_pick"] = round(t, 3)
        was_pick = _inside("pick", x, y)
        if out["t_over_scan"] is None and _inside("scan", x, y):
            out["t_over_scan"] = round(t, 3)
        if out["t_land"] is None and _inside("bag", x, y):
            out["t_land"] = round(t, 3)
        t += dt
    return out


def scanner_bytes(gtin14: str) -> bytes:
    """What a scanner with AIM ids on sends for an EAN-13 read: ]E0 + 13 digits + CR."""
    return b"]E0" + gtin14[1:].encode() + b"\r"


def write_plan(
    out: Path,
    name: str,
    items: list[ItemPlan],
    lane_config: str,
    seed: int = 0,
    fps: float = 15.0,
    size: tuple[int, int] = (640, 480),
    pos_events: list[dict] | None = None,
    look=None,
    extra_scans: Sequence[tuple[float, str]] = (),
    extra_truth: Sequence[dict] = (),
    end_s: float = 0.0,
) -> Path:
    """Render ``items`` to ``out/video.mp4`` and write the scanner bytes, POS events and truth.

    ``look`` (``edge_app.sim.kiosk.Look``) selects the kiosk look; None keeps
    the classic demo look. ``extra_scans`` are scans of no item
    (``scan_without_item``), ``extra_truth`` their truth rows.
    """
    scene = Scene(
        width=size[0], height=size[1], fps=fps, items=items, seed=seed, look=look, end_s=end_s
    )
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    video = out / "video.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise OSError("OpenCV cannot write mp4v video here")
    n_frames = int(round(scene.duration * fps))
    for i in range(n_frames):
        frame, _ = render(scene, i / fps, rng)
        writer.write(frame)
    writer.release()

    journeys, chunks = [], []
    reads: list[tuple[float, str]] = []
    for plan in items:
        gtin = with_check_digit(plan.product.gtin)
        times = crossings(plan)
        scanned = with_check_digit(plan.scan_gtin) if plan.scan_gtin else None
        journeys.append(
            TruthJourney(
                product=plan.product.name,
                gtin=gtin,
                label=plan.truth,
                t_scan=None if plan.scan_at is None else round(plan.scan_at, 3),
                scanned_gtin=scanned,
                **times,
            )
        )
        if plan.scan_at is not None:
            reads.append((plan.scan_at, scanned or gtin))
    for t, code in extra_scans:
        reads.append((t, with_check_digit(code)))
    for row in extra_truth:
        journeys.append(
            TruthJourney.model_validate(
                {**row, "gtin": with_check_digit(row["gtin"]) if row.get("gtin") else ""}
            )
        )
    for t, code in sorted(reads):
        data = scanner_bytes(code)
        # split each read in two writes: the reader must reassemble lines
        chunks.append(ScannerChunk(t=round(t, 3), scanner="flatbed", hex=data[:5].hex()))
        chunks.append(ScannerChunk(t=round(t + 0.004, 3), scanner="flatbed", hex=data[5:].hex()))
    meta = ScenarioMeta(
        name=name,
        fps=fps,
        width=size[0],
        height=size[1],
        duration_s=round(n_frames / fps, 3),
        lane_config=lane_config,
        seed=seed,
    )
    write_scenario(out, meta, Truth(journeys=journeys), chunks, pos_events or [])
    return out


DEMO_STORY = (
    (0, "scanned"),
    (1, "scanned"),
    (2, "missed_scan.pass_over"),
    (3, "scanned"),
    (0, "missed_scan.bypass"),
)


def demo_plans() -> list[ItemPlan]:
    """The bundled demo lane: five items, one passed over the glass unscanned, one around it."""
    plans, t = [], 0.5
    for slot, (product_index, truth) in enumerate(DEMO_STORY):
        plan = plan_journey(PRODUCTS[product_index], truth, t, BAG_SLOTS[slot])
        plans.append(plan)
        t = plan.keys[-1][0] + 1.2
    return plans


def random_plans(seed: int, count: int, products: tuple[Product, ...] = PRODUCTS) -> list[ItemPlan]:
    rng = np.random.default_rng(seed)
    labels = ["scanned"] * 6 + ["missed_scan.pass_over", "missed_scan.bypass"]
    plans, t = [], 0.5
    for slot in range(min(count, len(BAG_SLOTS))):
        truth = labels[int(rng.integers(len(labels)))]
        speed = float(rng.uniform(0.8, 1.4))
        plan = plan_journey(
            products[int(rng.integers(len(products)))], truth, t, BAG_SLOTS[slot], speed
        )
        plans.append(plan)
        t = plan.keys[-1][0] + float(rng.uniform(0.8, 2.0))
    return plans


# ------------------------------------------------------- kiosk scenario sets

REPO = Path(__file__).resolve().parents[2]
DEMO_LANE = REPO / "calibration" / "demo" / "lane.yaml"
LANE_MODEL = "lane-products-hands-320.onnx"


def lane_config_for(out: Path, model: Path | None = None) -> dict:
    """The demo lane, with the grocery catalogue and the lane-view model (COCO if it is not there)."""
    import os

    import yaml

    from edge_app.sim.kiosk import CLASSES, GROCERY

    lane = yaml.safe_load(DEMO_LANE.read_text())
    model = model or (REPO / "models" / LANE_MODEL)
    if model.is_file():
        lane["models"]["products"] = {
            "path": os.path.relpath(model.resolve(), out.resolve()),
            "classes": [c for c in CLASSES if c != "hand"],
            "conf": 0.1,
            "iou": 0.7,
        }
        lane["models"]["hands"] = {"backend": "detector"}  # the lane model's own hand class
    else:
        lane["models"]["products"]["path"] = os.path.relpath(
            (REPO / "models" / "yolo11n-coco-int8-320.onnx").resolve(), out.resolve()
        )
    lane["camera"]["source"] = "video.mp4"
    lane["catalog"] = {
        "items": {with_check_digit(p.gtin): {"name": p.name, "label": p.cls} for p in GROCERY}
    }
    return lane


def generate(
    out: Path,
    seed: int,
    count: int,
    difficulty: str = "normal",
    items: int = 4,
    size: tuple[int, int] = (480, 360),
    fps: float = 15.0,
    labels: list[list[str]] | None = None,
    model: Path | None = None,
) -> list[Path]:
    """``count`` kiosk scenarios under ``out`` (``out/<name>/``) and their lane file ``out/lane.yaml``.

    Scenario *k* is planned from seed ``seed * 1000 + k``: the same seed gives
    the same set, byte for byte in everything but the video container.
    ``labels``, when given, fixes the journeys of each scenario (one list per scenario).
    """
    import yaml

    from edge_app.sim.kiosk import plan_kiosk_session

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "lane.yaml").write_text(
        "# Written by `edge-app sim generate`: the demo lane with the grocery catalogue"
        " and the lane-view model.\n" + yaml.safe_dump(lane_config_for(out, model), sort_keys=False)
    )
    folders = []
    for k in range(count):
        s = seed * 1000 + k
        session = plan_kiosk_session(s, items, difficulty, labels=labels[k] if labels else None)
        name = f"{difficulty}-{seed}-{k:03d}"
        folders.append(write_session(out, name, session, seed=s, fps=fps, size=size))
    return folders


def write_session(
    out: Path,
    name: str,
    session: Session,
    *,
    seed: int,
    fps: float,
    size: tuple[int, int],
    look: object | None = None,
) -> Path:
    """A planned kiosk session as scenario ``out/<name>/`` (lane file ``out/lane.yaml``);
    ``look`` replaces the session's own (the suite turns its noise down)."""
    return write_plan(
        out / name,
        name,
        session.items,
        "../lane.yaml",
        seed=seed,
        fps=fps,
        size=size,
        pos_events=session.pos_events,
        look=look if look is not None else session.look,
        extra_scans=session.extra_scans,
        extra_truth=session.extra_truth,
        end_s=session.end_s,
    )
