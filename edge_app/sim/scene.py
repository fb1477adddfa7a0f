"""Synthetic kiosk-camera scenes: a counter, a basket, the scanner glass, a bag.

Products are real photo cut-outs (``assets/``, see its README for licences),
carried by a shopper's arm reaching in from the bottom edge. Every journey is
planned first (``ItemPlan``), then rendered frame by frame, so the ground truth
(when it left the basket, crossed the glass, landed in the bag) is exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(__file__).parent / "assets"


#: Demo lane geometry (normalised x0, y0, x1, y1 rectangles).
LAYOUT = {
    "pick": (0.00, 0.30, 0.30, 1.00),
    "scan": (0.38, 0.42, 0.60, 1.00),
    "bag": (0.68, 0.30, 1.00, 1.00),
    "go_back": (0.00, 0.00, 0.22, 0.22),
}


def zone_polygons(layout: dict = LAYOUT) -> dict[str, list[list[float]]]:
    return {k: [[x0, y0], [x1, y0], [x1, y1], [x0, y1]] for k, (x0, y0, x1, y1) in layout.items()}


@dataclass(frozen=True)
class Product:
    name: str
    gtin: str
    sprite: str  # file in assets/
    hue_shift: int = 0  # degrees/2 as OpenCV hue, to make look-alike variants
    label: str = "bottle"  # what a COCO detector calls it
    cls: str = "soda_bottle"  # its class in the lane-view model (``CLASSES``)
    barcode: bool = True  # False: produce, added at the kiosk (pos.jsonl item_added), never scanned
    length: float = 0.42  # sprite's long side, as a fraction of the frame height (kiosk look)


PRODUCTS = (
    Product("Cola 33cl", "05449000000996", "bottle_0.png", 0),
    Product("Orange soda 33cl", "05449000011527", "bottle_1.png", 12),
    Product("Lemon soda 33cl", "05449000054227", "bottle_2.png", 25),
    Product("Grape soda 33cl", "05449000214799", "bottle_3.png", 140),
)


@dataclass
class ItemPlan:
    """One journey: where the item is at each key time (normalised centre)."""

    product: Product
    keys: list  # [(t, x, y)], item invisible before the first and follows the last
    truth: str  # scanned | missed_scan.pass_over | missed_scan.bypass | ...
    t_leave_pick: float = 0.0
    t_over_scan: float | None = None
    t_land: float | None = None
    scan_at: float | None = None  # when the scanner beeps (None: no beep)
    carried_until: float = 0.0  # hand lets go at the landing
    # kiosk look only (edge_app/sim/kiosk.py); the classic look ignores these
    t_pick: float | None = (
        None  # hand reaches the item in the basket (keys[0] is then the basket rest)
    )
    angle: float = 0.0  # degrees the item is turned in the hand
    grip: float = 0.3  # how far over the item the hand reaches (fraction of its length)
    carrier: int | None = None  # index of the item it is stacked on (multi_item): no own hand
    stack_offset: tuple = (0.0, 0.0)  # normalised offset from the carrier item
    scan_gtin: str | None = None  # the code the scanner reads, when not the product's (mismatch)

    def position(self, t: float) -> tuple[float, float] | None:
        if t < self.keys[0][0]:
            return None
        for (t0, x0, y0), (t1, x1, y1) in zip(self.keys, self.keys[1:], strict=False):
            if t0 <= t <= t1:
                u = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                u = u * u * (3 - 2 * u)  # ease in/out like a real hand
                return (x0 + (x1 - x0) * u, y0 + (y1 - y0) * u)
        return self.keys[-1][1:]


@dataclass
class Scene:
    width: int = 640
    height: int = 480
    fps: float = 15.0
    items: list = field(default_factory=list)
    seed: int = 0
    sprite_height: float = 0.42  # of frame height
    noise: float = 3.0
    lighting: float = 1.0
    #: a ``edge_app.sim.kiosk.Look``; None: the classic demo look (bit-identical to the committed demo).
    #: Typed loosely so this module needs nothing from the kiosk look, which builds on it.
    look: object | None = None
    end_s: float = 0.0  # at least this long (POS events after the last item)

    @property
    def duration(self) -> float:
        return max(max(k[-1][0] for k in (i.keys for i in self.items)) + 1.5, self.end_s)


def load_sprite(name: str, hue_shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(BGR, alpha) of a cut-out in ``assets/``, hue-rotated to make a look-alike product."""
    rgba = cv2.imread(str(ASSETS / name), cv2.IMREAD_UNCHANGED)
    if rgba is None:
        raise FileNotFoundError(ASSETS / name)
    bgr, alpha = rgba[..., :3], rgba[..., 3]
    if hue_shift:
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV)
        hsv[..., 0] = (hsv[..., 0].astype(int) + hue_shift) % 180
        bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    return bgr, alpha


@lru_cache(maxsize=32)
def _sprite(name: str, hue_shift: int, height_px: int) -> np.ndarray:
    bgr, alpha = load_sprite(name, hue_shift)
    scale = height_px / bgr.shape[0]
    return cv2.resize(
        np.dstack([bgr, alpha]), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA
    )


@lru_cache(maxsize=4)
def _counter(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (118, 124, 128)
    grain = rng.normal(0, 6, (height // 4 + 1, width // 4 + 1)).astype(np.float32)
    grain = cv2.resize(grain, (width, height), interpolation=cv2.INTER_CUBIC)
    img = np.clip(img.astype(np.float32) + grain[..., None], 0, 255).astype(np.uint8)

    def rect(name, color, border):
        x0, y0, x1, y1 = LAYOUT[name]
        p0 = (int(x0 * width), int(y0 * height))
        p1 = (int(x1 * width) - 1, int(y1 * height) - 1)
        cv2.rectangle(img, p0, p1, color, -1)
        cv2.rectangle(img, p0, p1, border, 3)
        return p0, p1

    (bx0, by0), (bx1, by1) = rect("pick", (60, 90, 150), (40, 60, 110))  # basket
    for x in range(bx0 + 12, bx1, 22):
        cv2.line(img, (x, by0 + 6), (x, by1 - 6), (45, 70, 120), 2)
    (sx0, sy0), (sx1, sy1) = rect("scan", (150, 150, 138), (95, 95, 95))  # scanner glass (lit)
    cy = (sy0 + sy1) // 2
    cv2.line(img, (sx0 + 8, cy), (sx1 - 8, cy), (40, 40, 200), 2)
    cv2.line(img, ((sx0 + sx1) // 2, sy0 + 8), ((sx0 + sx1) // 2, sy1 - 8), (40, 40, 170), 1)
    (gx0, gy0), (gx1, gy1) = rect("bag", (214, 218, 222), (170, 175, 180))  # bag
    cv2.ellipse(
        img, ((gx0 + gx1) // 2, gy0), ((gx1 - gx0) // 3, 18), 0, 180, 360, (160, 165, 170), 4
    )
    (rx0, ry0), (rx1, ry1) = rect("go_back", (100, 140, 100), (70, 110, 70))
    cv2.putText(
        img,
        "GO BACK",
        (rx0 + 6, (ry0 + ry1) // 2 + 5),
        cv2.FONT_HERSHEY_SIMPLEX,
        0.4,
        (230, 240, 230),
        1,
    )
    return img


def _paste(
    frame: np.ndarray, sprite: np.ndarray, cx: float, cy: float
) -> tuple[int, int, int, int]:
    h, w = sprite.shape[:2]
    x0, y0 = int(round(cx - w / 2)), int(round(cy - h / 2))
    fx0, fy0 = max(0, x0), max(0, y0)
    fx1, fy1 = min(frame.shape[1], x0 + w), min(frame.shape[0], y0 + h)
    if fx1 <= fx0 or fy1 <= fy0:
        return (0, 0, 0, 0)
    sub = sprite[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    a = sub[..., 3:4].astype(np.float32) / 255.0
    roi = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    frame[fy0:fy1, fx0:fx1] = (roi * (1 - a) + sub[..., :3].astype(np.float32) * a).astype(np.uint8)
    return (fx0, fy0, fx1, fy1)


def _arm(
    frame: np.ndarray, hand_xy: tuple[float, float], shoulder_x: float, skin=(120, 150, 200)
) -> None:
    h = frame.shape[0]
    hx, hy = int(hand_xy[0]), int(hand_xy[1])
    sx, sy = int(shoulder_x), h + 40
    ex, ey = int((sx + hx) / 2 + 30), int((sy + hy) / 2 + 20)  # elbow
    dark = tuple(int(c * 0.8) for c in skin)
    cv2.line(frame, (sx, sy), (ex, ey), dark, 46, cv2.LINE_AA)
    cv2.line(frame, (ex, ey), (hx, hy), skin, 34, cv2.LINE_AA)
    cv2.ellipse(
        frame,
        (hx, hy),
        (24, 18),
        math.degrees(math.atan2(hy - ey, hx - ex)),
        0,
        360,
        skin,
        -1,
        cv2.LINE_AA,
    )
    for k in range(4):  # fingers wrapped round the product
        fx = hx + int(14 * math.cos(math.radians(-60 + 35 * k)))
        fy = hy - 10 + int(6 * math.sin(math.radians(-60 + 35 * k)))
        cv2.circle(frame, (fx, fy), 7, dark, -1, cv2.LINE_AA)


def render_classic(
    scene: Scene, t: float, rng: np.random.Generator
) -> tuple[np.ndarray, list[dict]]:
    """One frame of the classic demo look at time t, and where each visible item is (for YOLO labels)."""
    frame = _counter(scene.width, scene.height, scene.seed).copy()
    boxes = []
    sprite_px = int(scene.sprite_height * scene.height)
    visible = []
    for idx, item in enumerate(scene.items):
        pos = item.position(t)
        if pos is not None:
            visible.append((idx, item, pos[0] * scene.width, pos[1] * scene.height))
    sprite_for = {
        idx: _sprite(it.product.sprite, it.product.hue_shift, sprite_px)
        for idx, it, _, _ in visible
    }
    # The hand grips the product from below: arm first, product on top.
    for idx, item, cx, cy in visible:
        if t <= item.carried_until:
            _arm(frame, (cx, cy + sprite_for[idx].shape[0] * 0.25), shoulder_x=scene.width * 0.45)
    for idx, item, cx, cy in visible:
        box = _paste(frame, sprite_for[idx], cx, cy)
        boxes.append({"item": idx, "label": item.product.label, "xyxy": box})
    if scene.lighting != 1.0:
        frame = cv2.convertScaleAbs(frame, alpha=scene.lighting, beta=0)
    if scene.noise:
        n = rng.normal(0, scene.noise, frame.shape).astype(np.float32)
        frame = np.clip(frame.astype(np.float32) + n, 0, 255).astype(np.uint8)
    return frame, boxes


def plan_journey(
    product: Product, truth: str, t0: float, bag_slot: tuple[float, float], speed: float = 1.0
) -> ItemPlan:
    """Keyframes for one item: from the basket, over (or around) the glass, into the bag."""
    d = 1.0 / speed
    pick = (0.15, 0.66)
    bag = bag_slot
    keys = [(t0, *pick), (t0 + 0.5 * d, pick[0] + 0.02, pick[1] - 0.02)]
    t = t0 + 0.5 * d
    plan = ItemPlan(product, keys, truth)
    if truth == "missed_scan.bypass":
        # up and over the top of the scanner, never over the glass
        keys += [(t + 0.7 * d, 0.18, 0.26), (t + 1.9 * d, 0.82, 0.26), (t + 2.6 * d, *bag)]
        plan.t_leave_pick = t0 + 0.5 * d + 0.25 * d
        plan.t_land = t + 2.6 * d
    else:
        dwell = 0.7 if truth == "scanned" else 0.15
        keys += [
            (t + 0.9 * d, 0.49, 0.72),
            (t + 0.9 * d + dwell, 0.50, 0.71),
            (t + 1.8 * d + dwell, *bag),
        ]
        plan.t_leave_pick = t0 + 0.5 * d + 0.3 * d
        plan.t_over_scan = t + 0.9 * d
        plan.t_land = t + 1.8 * d + dwell
        if truth == "scanned":
            plan.scan_at = t + 0.9 * d + dwell * 0.6
    plan.carried_until = plan.t_land + 0.2
    return plan
