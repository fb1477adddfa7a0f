"""Rebuild the scene sprites in ``assets/`` from the licensed photos in shared/assets.

Run once by a developer, never by the lane:

    .venv/bin/python -m edge_app.sim.make_assets /work/shared/assets/images

Every crop is listed here (file, box in source pixels), so the PNGs are
reproducible and their provenance is exact; ``assets/README.md`` repeats it
with the licences. Cartons are rectangular crops of the package front (what a
camera above the counter sees of a carton carried on its side), produce and
hands are masked cut-outs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(__file__).parent / "assets"

#: product sprite -> (GroceryStoreDataset test photo, x0, y0, x1, y1 in its 348 px frame)
CARTONS = {
    "carton_milk.png": ("grocery/Garant-Ecological-Medium-Fat-Milk_017.jpg", 186, 32, 297, 338),
    "carton_juice.png": ("grocery/Bravo-Orange-Juice_021.jpg", 192, 32, 280, 298),
    "carton_oat_drink.png": ("grocery/Oatly-Oat-Milk_024.jpg", 102, 18, 238, 322),
    "carton_soy_drink.png": ("grocery/Alpro-Shelf-Soy-Milk_014.jpg", 132, 162, 274, 326),
    "carton_sour_cream.png": ("grocery/Arla-Ecological-Sour-Cream_011.jpg", 122, 72, 254, 280),
}
#: produce sprite -> (photo, centre x, centre y, radius)
PRODUCE = {
    "produce_apple_red.png": ("grocery/Red-Delicious_026.jpg", 280, 217, 50),
    "produce_apple_green.png": ("grocery/Granny-Smith_029.jpg", 196, 132, 36),
}
LONG_SIDE = 150  # px: sprites are scaled down at render time


def _carton(src: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    crop = src[y0:y1, x0:x1]
    s = LONG_SIDE / max(crop.shape[:2])
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
    h, w = crop.shape[:2]
    alpha = np.zeros((h, w), np.uint8)
    r = max(2, w // 14)  # rounded carton edges
    cv2.rectangle(alpha, (r, 0), (w - 1 - r, h - 1), 255, -1)
    cv2.rectangle(alpha, (0, r), (w - 1, h - 1 - r), 255, -1)
    for cx, cy in ((r, r), (w - 1 - r, r), (r, h - 1 - r), (w - 1 - r, h - 1 - r)):
        cv2.circle(alpha, (cx, cy), r, 255, -1, cv2.LINE_AA)
    # a little edge shading: cartons are boxes, not posters
    yy, xx = np.mgrid[0:h, 0:w]
    edge = np.minimum(np.minimum(xx, w - 1 - xx), np.minimum(yy, h - 1 - yy)).astype(np.float32)
    shade = 0.78 + 0.22 * np.clip(edge / (0.12 * w), 0, 1)
    crop = np.clip(crop.astype(np.float32) * shade[..., None], 0, 255).astype(np.uint8)
    return np.dstack([crop, alpha])


def _produce(src: np.ndarray, cx: int, cy: int, r: int) -> np.ndarray:
    crop = src[cy - r : cy + r, cx - r : cx + r]
    alpha = np.zeros(crop.shape[:2], np.uint8)
    cv2.circle(alpha, (r, r), int(r * 0.96), 255, -1, cv2.LINE_AA)
    s = (LONG_SIDE * 0.6) / (2 * r)
    return cv2.resize(np.dstack([crop, alpha]), None, fx=s, fy=s, interpolation=cv2.INTER_AREA)


def _largest(mask: np.ndarray, close: int) -> np.ndarray:
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask)
    keep = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    mask = np.where(lab == keep, 255, 0).astype(np.uint8)
    return cv2.morphologyEx(mask, cv2.MORPH_CLOSE, np.ones((close, close), np.uint8))


def _hand_palm(src: np.ndarray) -> np.ndarray:
    """pexels-ricardo-utsumi-1314554: a palm on a blue backdrop (chroma key)."""
    b, r = src[..., 0].astype(int), src[..., 2].astype(int)
    mask = _largest(np.where(b - r > 30, 0, 255).astype(np.uint8), 9)
    return _tight(np.dstack([src, mask]))


def _hand_back(src: np.ndarray) -> np.ndarray:
    """pexels-daria-shevtsova-1578238: the back of a hand on a wall (skin threshold)."""
    ycc = cv2.cvtColor(src, cv2.COLOR_BGR2YCrCb).astype(int)
    hsv = cv2.cvtColor(src, cv2.COLOR_BGR2HSV).astype(int)
    mask = _largest(((ycc[..., 1] > 145) & (hsv[..., 1] > 45)).astype(np.uint8) * 255, 21)
    mask[505:] = 0  # the forearm: the scene draws its own arm up to the wrist
    return _tight(np.dstack([src, mask]))


def _tight(rgba: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(rgba[..., 3] > 0)
    rgba = rgba[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    s = 220 / max(rgba.shape[:2])
    return cv2.resize(rgba, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)


def build(images: Path, out: Path = ASSETS) -> list[Path]:
    written = []
    for name, (photo, x0, y0, x1, y1) in CARTONS.items():
        written.append(_write(out / name, _carton(_read(images / photo), (x0, y0, x1, y1))))
    for name, (photo, cx, cy, r) in PRODUCE.items():
        written.append(_write(out / name, _produce(_read(images / photo), cx, cy, r)))
    written.append(
        _write(
            out / "hand_palm.png",
            _hand_palm(_read(images / "hands/pexels-ricardo-utsumi-1314554.jpg")),
        )
    )
    written.append(
        _write(
            out / "hand_back.png",
            _hand_back(_read(images / "hands/pexels-daria-shevtsova-1578238.jpg")),
        )
    )
    return written


def _read(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    if img is None:
        raise FileNotFoundError(path)
    return img


def _write(path: Path, rgba: np.ndarray) -> Path:
    cv2.imwrite(str(path), rgba, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return path


if __name__ == "__main__":
    for p in build(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/assets/images")):
        print(p, p.stat().st_size)
