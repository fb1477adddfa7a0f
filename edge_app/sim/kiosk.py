"""The kiosk look: a top-down self-checkout camera view built from real photos.

``sim.render.render`` hands a ``Scene`` with a ``look`` here. What is drawn:

- the counter (steel, laminate, wood or white), a plastic basket in ``pick``,
  the scanner glass with its bezel and laser lines in ``scan``, an open bag in
  ``bag``, a go-back tray, the kiosk body and screen along the far edge;
- products: crops of real packages and produce cut-outs from the
  GroceryStoreDataset photos, and the sample-bottle cut-outs (``assets/``);
  items wait in the basket, travel in a hand, and stay where they land;
- the shopper's arm reaching in from the near (bottom) edge: a sleeve, a bare
  wrist and a real hand photo (Pexels cut-outs), tinted to a per-scene skin
  tone, drawn over the near part of the item it holds (occlusion);
- per-scene lighting (gain, colour cast, spot, vignette, slow flicker),
  camera noise, defocus and motion blur along the hand's velocity for the
  scene's exposure time.

Everything random comes from the scene's ``Look`` (drawn once per scene from
a seed) and the ``rng`` given to ``render_kiosk`` (noise only), so a seed
gives the same video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import cast

import cv2
import numpy as np

from edge_app.sim.scene import LAYOUT, PRODUCTS, ItemPlan, Product, Scene, load_sprite

#: class ids of the lane-view detector (models/lane-products-hands-320.md)
CLASSES = ("hand", "milk", "juice", "oat_drink", "soy_drink", "sour_cream", "soda_bottle", "apple")

#: the grocery catalogue of the kiosk scenes (GTINs are made up; check digits are fixed on write)
GROCERY = (
    Product(
        "Organic milk 1l",
        "07310865004703",
        "carton_milk.png",
        label="milk",
        cls="milk",
        length=0.36,
    ),
    Product(
        "Orange juice 1l",
        "07310240068900",
        "carton_juice.png",
        label="juice",
        cls="juice",
        length=0.36,
    ),
    Product(
        "Oat drink 1l",
        "07394376616006",
        "carton_oat_drink.png",
        label="oat_drink",
        cls="oat_drink",
        length=0.36,
    ),
    Product(
        "Soy drink 1l",
        "05411188112709",
        "carton_soy_drink.png",
        label="soy_drink",
        cls="soy_drink",
        length=0.30,
    ),
    Product(
        "Sour cream 0.5l",
        "07310865071804",
        "carton_sour_cream.png",
        label="sour_cream",
        cls="sour_cream",
        length=0.28,
    ),
    Product(
        "Cola 33cl",
        PRODUCTS[0].gtin,
        "bottle_0.png",
        0,
        label="soda_bottle",
        cls="soda_bottle",
        length=0.34,
    ),
    Product(
        "Grape soda 33cl",
        PRODUCTS[3].gtin,
        "bottle_3.png",
        140,
        label="soda_bottle",
        cls="soda_bottle",
        length=0.34,
    ),
    Product(
        "Apples (loose)",
        "02000000413006",
        "produce_apple_red.png",
        label="apple",
        cls="apple",
        barcode=False,
        length=0.13,
    ),
    Product(
        "Green apples (loose)",
        "02000000413105",
        "produce_apple_green.png",
        label="apple",
        cls="apple",
        barcode=False,
        length=0.12,
    ),
)

COUNTERS = {
    "steel": (150, 152, 150),
    "laminate": (62, 64, 72),
    "wood": (120, 160, 196),
    "white": (206, 206, 210),
}
BASKETS = ((40, 40, 185), (165, 95, 35), (60, 135, 60), (45, 45, 48))
BAGS = ((222, 224, 226), (196, 200, 204), (118, 160, 196))
SLEEVES = (
    (40, 40, 40),
    (150, 80, 30),
    (40, 40, 150),
    (200, 200, 200),
    (60, 110, 60),
    (120, 120, 130),
    (30, 90, 160),
)
HANDS = ("hand_back.png", "hand_palm.png")


@dataclass(frozen=True)
class Look:
    """How one scene looks: drawn once from a seed (``Look.random``)."""

    counter: str = "steel"
    basket: tuple = BASKETS[0]
    bag: tuple = BAGS[0]
    sleeve: tuple = SLEEVES[0]
    cuff: float = 0.55  # where the sleeve ends along the forearm (0 elbow, 1 wrist)
    hand: str = HANDS[0]
    skin: tuple = (1.0, 1.0, 1.0)  # BGR gains on the hand photo
    mirror: bool = False  # a left hand
    shoulder_x: float = 0.5  # where the shopper stands (fraction of the width)
    item_scale: float = 1.0
    gain: float = 1.0
    tint: tuple = (1.0, 1.0, 1.0)
    spot: tuple = (0.5, 0.3, 0.0)  # x, y, strength of a ceiling light
    vignette: float = 0.15
    flicker: float = 0.0
    noise: float = 3.0  # sigma, grey levels
    exposure: float = 0.4  # shutter open, as a fraction of the frame period (motion blur)
    defocus: float = 0.0
    seed: int = 0  # counter texture

    @classmethod
    def random(cls, rng: np.random.Generator, difficulty: str = "normal") -> Look:
        hard, easy = difficulty == "hard", difficulty == "easy"
        pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
        tone = float(rng.uniform(0.5, 1.1))
        warm = float(rng.uniform(-0.08, 0.12))
        return cls(
            counter=pick(tuple(COUNTERS)),
            basket=pick(BASKETS),
            bag=pick(BAGS),
            sleeve=pick(SLEEVES),
            cuff=float(rng.uniform(0.2, 0.9)),
            hand=pick(HANDS),
            skin=(tone * (1 - warm), tone, tone * (1 + warm)),
            mirror=bool(rng.random() < 0.3),
            shoulder_x=float(rng.uniform(0.35, 0.65)),
            item_scale=float(rng.uniform(0.85, 1.15)),
            gain=float(
                rng.uniform(0.5, 1.3)
                if hard
                else rng.uniform(0.75, 1.2)
                if not easy
                else rng.uniform(0.9, 1.1)
            ),
            tint=tuple(float(x) for x in rng.uniform(0.9, 1.1, 3)),
            spot=(
                float(rng.uniform(0.1, 0.9)),
                float(rng.uniform(0.0, 0.6)),
                float(rng.uniform(0.0, 0.4)),
            ),
            vignette=float(rng.uniform(0.0, 0.4)),
            flicker=float(rng.uniform(0.0, 0.06) if hard else 0.0),
            noise=float(
                rng.uniform(3, 8)
                if hard
                else rng.uniform(1.5, 4.5)
                if not easy
                else rng.uniform(1, 2.5)
            ),
            exposure=float(
                rng.uniform(0.5, 1.0) if hard else rng.uniform(0.25, 0.6) if not easy else 0.2
            ),
            defocus=float(rng.uniform(0.0, 1.2) if hard else rng.uniform(0.0, 0.6)),
            seed=int(rng.integers(1 << 30)),
        )


# ----------------------------------------------------------------- sprites


@lru_cache(maxsize=64)
def _rgba(name: str, hue_shift: int = 0, skin: tuple = (), mirror: bool = False) -> np.ndarray:
    bgr, alpha = load_sprite(name, hue_shift)
    if skin:
        bgr = np.clip(bgr.astype(np.float32) * np.array(skin, np.float32), 0, 255).astype(np.uint8)
    out = np.dstack([bgr, alpha])
    return out[:, ::-1].copy() if mirror else out


@lru_cache(maxsize=8)
def _hand_axis(name: str, mirror: bool) -> tuple[np.ndarray, np.ndarray, float]:
    """Wrist point, unit wrist->fingertips direction and hand length of a hand sprite (sprite px)."""
    a = _rgba(name, mirror=mirror)[..., 3] > 128
    ys, xs = np.nonzero(a)
    low = ys >= np.percentile(ys, 95)
    wrist = np.array([xs[low].mean(), ys[low].mean()])
    high = ys <= np.percentile(ys, 5)
    tips = np.array([xs[high].mean(), ys[high].mean()])
    d = tips - wrist
    u = d / np.linalg.norm(d)
    along = (xs - wrist[0]) * u[0] + (ys - wrist[1]) * u[1]
    return wrist, u, float(along.max())


def _warp_paste(
    layer: np.ndarray, alpha: np.ndarray, rgba: np.ndarray, m: np.ndarray
) -> tuple[int, int, int, int] | None:
    """Composite ``rgba`` through the 2x3 affine ``m`` onto (layer, alpha); tight box of what landed."""
    h, w = rgba.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
    H, W = layer.shape[:2]
    x0, y0 = (
        max(0, int(math.floor(corners[:, 0].min()))),
        max(0, int(math.floor(corners[:, 1].min()))),
    )
    x1, y1 = (
        min(W, int(math.ceil(corners[:, 0].max()))),
        min(H, int(math.ceil(corners[:, 1].max()))),
    )
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    mm = m.copy()
    mm[0, 2] -= x0
    mm[1, 2] -= y0
    warped = cv2.warpAffine(
        rgba,
        mm,
        (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0, 0),
    )
    a = warped[..., 3:4].astype(np.float32) / 255.0
    roi = layer[y0:y1, x0:x1].astype(np.float32)
    layer[y0:y1, x0:x1] = (roi * (1 - a) + warped[..., :3].astype(np.float32) * a).astype(np.uint8)
    ra = alpha[y0:y1, x0:x1].astype(np.float32) / 255.0
    alpha[y0:y1, x0:x1] = ((ra + a[..., 0] * (1 - ra)) * 255).astype(np.uint8)
    ys, xs = np.nonzero(warped[..., 3] > 100)
    if len(xs) == 0:
        return None
    return (x0 + int(xs.min()), y0 + int(ys.min()), x0 + int(xs.max()) + 1, y0 + int(ys.max()) + 1)


def _affine(src_pt, src_dir, dst_pt, dst_dir, scale: float) -> np.ndarray:
    """Similarity mapping src_pt -> dst_pt and turning src_dir onto dst_dir."""
    a = math.atan2(dst_dir[1], dst_dir[0]) - math.atan2(src_dir[1], src_dir[0])
    c, s = math.cos(a) * scale, math.sin(a) * scale
    r = np.array([[c, -s], [s, c]])
    t = np.asarray(dst_pt, float) - r @ np.asarray(src_pt, float)
    return np.hstack([r, t[:, None]])


def _product_sprite(p: Product) -> np.ndarray:
    return _rgba(p.sprite, p.hue_shift)


def _item_matrix(p: Product, cx: float, cy: float, angle: float, length_px: float) -> np.ndarray:
    spr = _product_sprite(p)
    h, w = spr.shape[:2]
    rad = math.radians(angle)
    return _affine(
        (w / 2, h / 2), (0, -1), (cx, cy), (math.sin(rad), -math.cos(rad)), length_px / max(h, w)
    )


# -------------------------------------------------------------- background


@lru_cache(maxsize=8)
def _background(look: Look, width: int, height: int) -> np.ndarray:
    rng = np.random.default_rng(look.seed)
    img = np.empty((height, width, 3), np.float32)
    img[:] = COUNTERS[look.counter]
    if look.counter == "steel":  # brushed: long horizontal streaks
        g = rng.normal(0, 9, (height, max(2, width // 40))).astype(np.float32)
        g = cv2.resize(g, (width, height), interpolation=cv2.INTER_LINEAR)
    elif look.counter == "wood":
        g = rng.normal(0, 14, (max(2, height // 30), width)).astype(np.float32)
        g = cv2.resize(g, (width, height), interpolation=cv2.INTER_CUBIC)
        g += 6 * np.sin(np.linspace(0, 40, width, dtype=np.float32))[None, :]
    else:
        g = rng.normal(0, 4, (height // 3 + 1, width // 3 + 1)).astype(np.float32)
        g = cv2.resize(g, (width, height), interpolation=cv2.INTER_CUBIC)
    img += g[..., None]
    img = np.clip(img, 0, 255).astype(np.uint8)

    def px(name):
        x0, y0, x1, y1 = LAYOUT[name]
        return int(x0 * width), int(y0 * height), int(x1 * width) - 1, int(y1 * height) - 1

    u = max(1, width // 160)  # line width unit
    # kiosk body and screen along the far edge
    cv2.rectangle(img, (int(0.26 * width), 0), (width - 1, int(0.12 * height)), (48, 50, 54), -1)
    cv2.rectangle(
        img,
        (int(0.62 * width), int(0.01 * height)),
        (int(0.9 * width), int(0.1 * height)),
        (150, 110, 60),
        -1,
    )
    cv2.rectangle(
        img,
        (int(0.64 * width), int(0.025 * height)),
        (int(0.75 * width), int(0.085 * height)),
        (220, 200, 170),
        -1,
    )
    # basket: rim, floor, slots
    x0, y0, x1, y1 = px("pick")
    b = np.array(look.basket, float)
    cv2.rectangle(
        img, (x0 + 2 * u, y0 + 2 * u), (x1 - 2 * u, y1), tuple(int(c) for c in b * 0.8), -1
    )
    cv2.rectangle(
        img, (x0 + 7 * u, y0 + 7 * u), (x1 - 7 * u, y1 - 4 * u), tuple(int(c) for c in b * 0.55), -1
    )
    for yy in range(y0 + 12 * u, y1 - 6 * u, 9 * u):
        for xx in range(x0 + 11 * u, x1 - 10 * u, 14 * u):
            cv2.rectangle(
                img, (xx, yy), (xx + 8 * u, yy + 3 * u), tuple(int(c) for c in b * 0.35), -1
            )
    cv2.rectangle(
        img,
        (x0 + 2 * u, y0 + 2 * u),
        (x1 - 2 * u, y1),
        tuple(int(c) for c in np.minimum(b * 1.15, 255)),
        3 * u,
    )
    # scanner: bezel, dark glass with a reflection, laser lines
    x0, y0, x1, y1 = px("scan")
    cv2.rectangle(img, (x0, y0), (x1, y1), (88, 90, 94), -1)
    gx0, gy0, gx1, gy1 = x0 + 6 * u, y0 + 10 * u, x1 - 6 * u, y1 - 14 * u
    glass = np.zeros((gy1 - gy0, gx1 - gx0, 3), np.float32)
    glass[:] = (38, 44, 42)
    ramp = (
        np.linspace(0, 1, gx1 - gx0, dtype=np.float32)[None, :]
        + np.linspace(0, 1, gy1 - gy0, dtype=np.float32)[:, None]
    )
    glass += (18 * np.clip(1 - np.abs(ramp - 0.8) * 3, 0, 1))[..., None]
    img[gy0:gy1, gx0:gx1] = np.clip(glass, 0, 255).astype(np.uint8)
    cy, cx = (gy0 + gy1) // 2, (gx0 + gx1) // 2
    for k in (-1, 0, 1):
        cv2.line(
            img,
            (gx0 + 3 * u, cy + k * 18 * u),
            (gx1 - 3 * u, cy - k * 18 * u),
            (30, 30, 150),
            u,
            cv2.LINE_AA,
        )
    cv2.line(img, (cx, gy0 + 3 * u), (cx, gy1 - 3 * u), (30, 30, 130), u, cv2.LINE_AA)
    # bag: open bag from above, rack bar, wrinkles
    x0, y0, x1, y1 = px("bag")
    bg = np.array(look.bag, float)
    cv2.rectangle(img, (x0 + 2 * u, y0 + 4 * u), (x1 - 2 * u, y1), tuple(int(c) for c in bg), -1)
    inner = (x0 + 10 * u, y0 + 14 * u, x1 - 10 * u, y1 - 6 * u)
    sub = img[inner[1] : inner[3], inner[0] : inner[2]].astype(np.float32)
    wr = cv2.resize(
        rng.normal(0, 1, (8, 6)).astype(np.float32),
        (sub.shape[1], sub.shape[0]),
        interpolation=cv2.INTER_CUBIC,
    )
    sub[:] = bg * 0.72
    sub += (10 * wr)[..., None]
    img[inner[1] : inner[3], inner[0] : inner[2]] = np.clip(sub, 0, 255).astype(np.uint8)
    cv2.line(img, (x0, y0 + 3 * u), (x1, y0 + 3 * u), (70, 70, 74), 4 * u)
    # go-back tray
    x0, y0, x1, y1 = px("go_back")
    cv2.rectangle(img, (x0 + 3 * u, y0 + 3 * u), (x1 - 3 * u, y1 - 3 * u), (90, 120, 90), -1)
    cv2.rectangle(img, (x0 + 3 * u, y0 + 3 * u), (x1 - 3 * u, y1 - 3 * u), (60, 90, 60), 2 * u)
    return img


@lru_cache(maxsize=8)
def _light_map(look: Look, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx /= width
    yy /= height
    sx, sy, strength = look.spot
    spot = strength * np.exp(-((xx - sx) ** 2 + (yy - sy) ** 2) / 0.12)
    vig = 1 - look.vignette * (((xx - 0.5) ** 2 + (yy - 0.5) ** 2) / 0.5)
    m = (look.gain * (vig + spot))[..., None] * np.array(look.tint, np.float32)[None, None, :]
    return m.astype(np.float32)


# ------------------------------------------------------------------ render


def hand_position(plan: ItemPlan, t: float, approach_s: float = 0.6, retract_s: float = 0.6):
    """Where the hand of this journey is at ``t`` (normalised), and whether it holds the item.

    Returns ``None`` when the hand is out of the picture. The hand comes in from
    the near edge to the basket, carries the item, lets go at the landing and
    goes back out of the picture.
    """
    if plan.carrier is not None or plan.t_pick is None:
        return None
    t0, t1 = plan.t_pick, plan.carried_until
    entry = (0.5 * (plan.keys[0][1] + 0.5), 1.25)
    if t0 - approach_s <= t < t0:
        u = (t - (t0 - approach_s)) / approach_s
        u = u * u * (3 - 2 * u)
        x, y = plan.position(t0)  # type: ignore[misc]
        return (entry[0] + (x - entry[0]) * u, entry[1] + (y - entry[1]) * u, False)
    if t0 <= t <= t1:
        x, y = plan.position(t)  # type: ignore[misc]
        return (x, y, True)
    if t1 < t <= t1 + retract_s:
        u = (t - t1) / retract_s
        u = u * u * (3 - 2 * u)
        x, y = plan.position(t1)  # type: ignore[misc]
        out = (x - 0.1, 1.25)
        return (x + (out[0] - x) * u, y + (out[1] - y) * u, False)
    return None


def _moving(plan: ItemPlan, items: list, t: float) -> bool:
    if plan.carrier is not None:
        return _moving(items[plan.carrier], items, t)
    return plan.t_pick is not None and plan.t_pick <= t <= plan.carried_until


def _draw_arm(layer, alpha, look: Look, wrist_px, hand_len: float, width: int, height: int):
    """Sleeve, bare wrist and the hand photo (fingers away from the shopper); the hand's tight box."""
    shoulder = np.array([look.shoulder_x * width, height * 1.35])
    wrist_img = np.asarray(wrist_px, float)
    d = wrist_img - shoulder
    d /= max(1e-6, np.linalg.norm(d))
    p = wrist_img
    side = 1.0 if (look.shoulder_x * width) > p[0] else -1.0
    perp = np.array([-d[1], d[0]]) * side
    elbow = shoulder + (wrist_img - shoulder) * 0.55 + perp * 0.06 * height
    cuff = elbow + (wrist_img - elbow) * look.cuff
    thick = 0.13 * height * look.item_scale
    sleeve = np.array(look.sleeve, float)
    skin_base = np.array([150, 170, 205], float) * np.array(look.skin)

    def line(a, b, color, w):
        cv2.line(
            layer,
            tuple(int(v) for v in a),
            tuple(int(v) for v in b),
            tuple(int(min(255, c)) for c in color),
            max(1, int(w)),
            cv2.LINE_AA,
        )
        cv2.line(
            alpha,
            tuple(int(v) for v in a),
            tuple(int(v) for v in b),
            255,
            max(1, int(w)),
            cv2.LINE_AA,
        )

    line(shoulder, elbow, sleeve * 0.7, thick * 1.15)
    line(shoulder, elbow, sleeve, thick * 0.8)
    line(elbow, cuff, sleeve * 0.7, thick * 1.05)
    line(elbow, cuff, sleeve, thick * 0.7)
    line(cuff, wrist_img, skin_base * 0.8, thick * 0.62)
    line(cuff, wrist_img, skin_base, thick * 0.4)
    spr = _rgba(look.hand, 0, look.skin, look.mirror)
    wrist, axis, sprite_len = _hand_axis(look.hand, look.mirror)
    scale = hand_len / sprite_len
    m = _affine(wrist, axis, wrist_img, d, scale)
    return _warp_paste(layer, alpha, spr, m)


def render_kiosk(scene: Scene, t: float, rng: np.random.Generator) -> tuple[np.ndarray, list[dict]]:
    """One kiosk-look frame at ``t``, and the boxes of every visible item and hand."""
    look = cast(Look, scene.look)
    W, H = scene.width, scene.height
    frame = _background(look, W, H).copy()
    rest_alpha = np.zeros((H, W), np.uint8)
    boxes: list[dict] = []
    moving_idx: list[int] = []
    still_idx: list[int] = []
    for idx, item in enumerate(scene.items):
        if item.position(t) is None:
            continue
        (moving_idx if _moving(item, scene.items, t) else still_idx).append(idx)

    def item_box(idx, target, target_alpha):
        item = scene.items[idx]
        x, y = item.position(t)
        length = item.product.length * H * look.item_scale
        m = _item_matrix(item.product, x * W, y * H, item.angle, length)
        box = _warp_paste(target, target_alpha, _product_sprite(item.product), m)
        if box:
            boxes.append(
                {"item": idx, "label": item.product.label, "cls": item.product.cls, "xyxy": box}
            )

    for idx in still_idx:
        item_box(idx, frame, rest_alpha)

    layer = frame.copy()
    lay_alpha = np.zeros((H, W), np.uint8)
    order = sorted(moving_idx, key=lambda i: scene.items[i].carrier is not None)  # carriers first
    for idx in order:
        item_box(idx, layer, lay_alpha)
    velocity, hand_boxes = _draw_hands(scene, look, t, layer, lay_alpha)
    if lay_alpha.any():
        frame, hand_boxes = _composite_moving(
            frame, layer, lay_alpha, velocity, look, boxes, moving_idx, hand_boxes
        )
    for b in hand_boxes:
        boxes.append({"item": -1, "label": "hand", "cls": "hand", "xyxy": b})
    return _lighting(look, frame, t, rng), boxes


def _draw_hands(scene: Scene, look: Look, t: float, layer, lay_alpha) -> tuple[np.ndarray, list]:
    """Draw each visible hand (and arm) on the moving layer; the last hand's velocity blurs it."""
    W, H = scene.width, scene.height
    velocity = np.zeros(2)
    hand_boxes = []
    dt = 1.0 / scene.fps
    for item in scene.items:
        hp = hand_position(item, t)
        if hp is None:
            continue
        x, y, holding = hp
        prev = hand_position(item, t - dt)
        if prev is not None:
            velocity = np.array([(x - prev[0]) * W, (y - prev[1]) * H])
        length = item.product.length * H * look.item_scale
        hand_len = 0.25 * H * look.item_scale
        cx, cy = x * W, y * H
        shoulder = np.array([look.shoulder_x * W, H * 1.35])
        d = np.array([cx, cy]) - shoulder
        d /= max(1e-6, np.linalg.norm(d))
        # the hand grips the near part of the item: fingers over its first ``grip`` of length
        if not holding:
            length = 0.5 * hand_len
        wrist = np.array([cx, cy]) - d * (0.5 * length + hand_len - item.grip * length)
        box = _draw_arm(layer, lay_alpha, look, wrist, hand_len, W, H)
        if box:
            hand_boxes.append(box)
    return velocity, hand_boxes


def _composite_moving(frame, layer, lay_alpha, velocity, look: Look, boxes, moving_idx, hand_boxes):
    """Lay the moving layer over the frame, motion-blurred along ``velocity`` when fast enough."""
    H, W = frame.shape[:2]
    blur = abs(float(np.linalg.norm(velocity))) * look.exposure
    if blur < 1.5:
        a = lay_alpha.astype(np.float32)[..., None] / 255.0
        frame = (frame.astype(np.float32) * (1 - a) + layer.astype(np.float32) * a).astype(np.uint8)
        return frame, hand_boxes
    n = int(min(41, round(blur))) | 1
    k = np.zeros((n, n), np.float32)
    ang = math.atan2(velocity[1], velocity[0])
    c = n // 2
    cv2.line(
        k,
        (int(c - math.cos(ang) * c), int(c - math.sin(ang) * c)),
        (int(c + math.cos(ang) * c), int(c + math.sin(ang) * c)),
        1.0,
        1,
    )
    k /= k.sum()
    a = lay_alpha.astype(np.float32) / 255.0
    pre = layer.astype(np.float32) * a[..., None]
    pre = cv2.filter2D(pre, -1, k)
    a = cv2.filter2D(a, -1, k)
    out = frame.astype(np.float32) * (1 - a[..., None]) + pre
    frame = np.clip(out, 0, 255).astype(np.uint8)
    grow = blur / 2
    gx, gy = abs(math.cos(ang)) * grow, abs(math.sin(ang)) * grow
    for b in boxes:
        if b["item"] in moving_idx:
            b["xyxy"] = _grow(b["xyxy"], gx, gy, W, H)
    return frame, [_grow(b, gx, gy, W, H) for b in hand_boxes]


def _lighting(look: Look, frame: np.ndarray, t: float, rng: np.random.Generator) -> np.ndarray:
    H, W = frame.shape[:2]
    light = _light_map(look, W, H)
    if look.flicker:
        light = light * (1 + look.flicker * math.sin(2 * math.pi * 1.7 * t))
    img = frame.astype(np.float32) * light
    if look.defocus > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), look.defocus)
    if look.noise:
        img += (
            rng.normal(0, look.noise, (H, W, 1)).astype(np.float32) * 0.6
            + rng.normal(0, look.noise, img.shape).astype(np.float32) * 0.8
        )
    return np.clip(img, 0, 255).astype(np.uint8)


def _grow(box, gx, gy, W, H):
    x0, y0, x1, y1 = box
    return (
        max(0, int(x0 - gx)),
        max(0, int(y0 - gy)),
        min(W, int(x1 + gx + 0.5)),
        min(H, int(y1 + gy + 0.5)),
    )


# ------------------------------------------------------------------- plans

#: where waiting items lie in the basket, and where they land in the bag (normalised centres)
BASKET_SLOTS = [
    (0.10, 0.48),
    (0.21, 0.55),
    (0.12, 0.70),
    (0.22, 0.80),
    (0.09, 0.88),
    (0.18, 0.40),
    (0.15, 0.62),
]
BAG_SLOTS = [
    (0.90, 0.50),
    (0.90, 0.82),
    (0.78, 0.52),
    (0.78, 0.84),
    (0.84, 0.67),
    (0.93, 0.66),
    (0.76, 0.68),
]
LABEL_MIX = {
    "easy": ["scanned"] * 6 + ["missed_scan.pass_over", "missed_scan.bypass", "no_barcode_item"],
    "normal": ["scanned"] * 5
    + [
        "missed_scan.pass_over",
        "missed_scan.bypass",
        "multi_item",
        "mismatch",
        "scan_without_item",
        "no_barcode_item",
    ],
    "hard": ["scanned"] * 3
    + [
        "missed_scan.pass_over",
        "missed_scan.bypass",
        "multi_item",
        "mismatch",
        "scan_without_item",
        "no_barcode_item",
    ],
}
SPEEDS = {"easy": (0.7, 1.1), "normal": (0.6, 1.6), "hard": (0.45, 2.2)}


@dataclass
class Session:
    """One planned transaction: item journeys plus what the scanner and kiosk say."""

    items: list
    extra_scans: list  # [(t, gtin)] scans that belong to no item (scan_without_item)
    pos_events: list  # pos.jsonl rows
    extra_truth: list  # truth journeys with no item (scan_without_item)
    end_s: float
    look: Look | None = None


def plan_kiosk_journey(
    product: Product,
    truth: str,
    t0: float,
    basket: tuple,
    bag: tuple,
    speed: float = 1.0,
    hesitate: float = 0.0,
    rng: np.random.Generator | None = None,
) -> ItemPlan:
    """Keyframes for one kiosk journey: the item waits in the basket from t=0, the hand picks it at ``t0``.

    ``truth`` decides the path: over the glass with a dwell (``scanned``,
    ``mismatch``, ``multi_item``, ``no_barcode_item`` weighed on the scale),
    quickly over it (``missed_scan.pass_over``) or around its far side
    (``missed_scan.bypass``). ``hesitate`` (s) adds a pause with a small wobble
    mid-way, as a shopper who is not sure.
    """
    rng = rng or np.random.default_rng(0)
    d = 1.0 / speed
    j = lambda s: float(rng.uniform(-s, s))  # noqa: E731
    lift = (basket[0] + 0.03, basket[1] - 0.04)
    keys = [(0.0, *basket), (t0, *basket), (t0 + 0.45 * d, *lift)]
    t = t0 + 0.45 * d
    if hesitate:
        keys.append((t + hesitate * 0.5, lift[0] + 0.02, lift[1] + j(0.02)))
        keys.append((t + hesitate, lift[0] + 0.01, lift[1]))
        t += hesitate
    plan = ItemPlan(
        product,
        keys,
        truth,
        t_pick=t0,
        angle=j(35) + (90 if rng.random() < 0.3 else 0),
        grip=float(rng.uniform(0.25, 0.5)),
    )
    if truth == "missed_scan.bypass":
        top = 0.25 + j(0.02)
        keys += [(t + 0.7 * d, 0.20, top), (t + 1.9 * d, 0.80, top + j(0.02)), (t + 2.6 * d, *bag)]
        plan.t_land = t + 2.6 * d
    else:
        dwell = {
            "scanned": 0.45 + float(rng.uniform(0, 0.5)),
            "missed_scan.pass_over": 0.12,
            "no_barcode_item": 1.1,
        }.get(truth, 0.6)
        gx, gy = 0.49 + j(0.03), 0.70 + j(0.06)
        keys += [
            (t + 0.9 * d, gx, gy),
            (t + 0.9 * d + dwell, gx + 0.01, gy - 0.01),
            (t + 1.8 * d + dwell, *bag),
        ]
        plan.t_over_scan = t + 0.9 * d
        plan.t_land = t + 1.8 * d + dwell
        if truth in ("scanned", "mismatch", "multi_item"):
            plan.scan_at = t + 0.9 * d + dwell * 0.6
    plan.carried_until = plan.t_land + 0.2
    return plan


def plan_kiosk_session(
    seed: int,
    count: int,
    difficulty: str = "normal",
    labels: list[str] | None = None,
    products: tuple = GROCERY,
    look: Look | None = None,
) -> Session:
    """A random transaction of ``count`` journeys (or exactly ``labels``), reproducible from ``seed``."""
    if difficulty not in SPEEDS:
        raise ValueError(f"difficulty must be easy, normal or hard, not {difficulty!r}")
    rng = np.random.default_rng(seed)
    look = look or Look.random(rng, difficulty)
    mix = LABEL_MIX[difficulty]
    labels = (
        list(labels)
        if labels is not None
        else [mix[int(rng.integers(len(mix)))] for _ in range(count)]
    )
    barcoded = [p for p in products if p.barcode]
    produce = [p for p in products if not p.barcode] or barcoded
    items: list[ItemPlan] = []
    extra_scans, extra_truth = [], []
    pos = [{"t": 0.2, "kind": "transaction_start", "transaction_id": f"T{seed:06d}"}]
    t = 0.9
    slot = 0
    for label in labels:
        if label == "scan_without_item":
            # a code scanned from a sheet: nothing over the glass, no hand in the picture
            p = barcoded[int(rng.integers(len(barcoded)))]
            ts = round(t + 0.6, 3)
            extra_scans.append((ts, p.gtin))
            extra_truth.append({"product": "", "gtin": p.gtin, "label": label, "t_scan": ts})
            t += 2.2
            continue
        p = (
            produce[int(rng.integers(len(produce)))]
            if label == "no_barcode_item"
            else barcoded[int(rng.integers(len(barcoded)))]
        )
        lo, hi = SPEEDS[difficulty]
        speed = float(rng.uniform(lo, hi))
        hesitate = (
            float(rng.uniform(0.6, 1.6))
            if rng.random() < (0.35 if difficulty == "hard" else 0.15)
            else 0.0
        )
        basket = BASKET_SLOTS[slot % len(BASKET_SLOTS)]
        bag = BAG_SLOTS[slot % len(BAG_SLOTS)]
        bag = (bag[0] + float(rng.uniform(-0.015, 0.015)), bag[1] + float(rng.uniform(-0.02, 0.02)))
        plan = plan_kiosk_journey(p, label, t, basket, bag, speed, hesitate, rng)
        if label == "mismatch":
            others = [q for q in barcoded if q.cls != p.cls]
            plan.scan_gtin = others[int(rng.integers(len(others)))].gtin
        idx = len(items)
        items.append(plan)
        slot += 1
        if label == "multi_item":
            # two of a kind, stacked in one hand, one beep:
            # the carrier is "scanned", the extra one is the alert
            plan.truth = "scanned"
            off = (0.03, -0.06)
            extra = ItemPlan(
                p,
                [(k[0], k[1] + off[0], k[2] + off[1]) for k in plan.keys],
                "multi_item",
                t_pick=plan.t_pick,
                angle=plan.angle + float(rng.uniform(-10, 10)),
                carrier=idx,
                stack_offset=off,
                carried_until=plan.carried_until,
            )
            items.append(extra)
        if label == "no_barcode_item":
            assert plan.t_over_scan is not None
            pos.append(
                {
                    "t": round(plan.t_over_scan + 0.8, 3),
                    "kind": "item_added",
                    "transaction_id": f"T{seed:06d}",
                    "gtin": p.gtin,
                    "quantity": 1,
                    "description": p.name,
                }
            )
        t = plan.keys[-1][0] + float(rng.uniform(0.9, 1.8))
    pay = round(t + 0.4, 3)
    pos.append({"t": pay, "kind": "payment_start", "transaction_id": f"T{seed:06d}"})
    pos.append(
        {"t": round(pay + 1.5, 3), "kind": "transaction_end", "transaction_id": f"T{seed:06d}"}
    )
    return Session(items, extra_scans, pos, extra_truth, end_s=pay + 2.0, look=look)
