"""Product recognition over item crops: an embedding, and a catalogue of prototypes.

Why prototypes: a store adds products every week; enrolling one from a few
photos (the mean of their embeddings) needs no retraining, and a product the
catalogue does not hold must come back as *unknown*, never as its nearest
neighbour, so that ``mismatch`` cannot accuse on it. :meth:`Catalogue.best`
therefore answers ``None`` below a cosine threshold calibrated on
GroceryStoreDataset's val split (``scripts/eval_recogniser.py``,
docs/MODELS.md "Product recognition").

The embedding is ``models/yolo11n-coco-embed-256.onnx`` (derived from the
shipped COCO YOLO11n by ``scripts/derive_embedder.py``): a crop is letterboxed
to 224², three backbone blocks are pooled, and a PCA whitening fitted on
GroceryStoreDataset's train split maps them to 256 values.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_app.perception.letterbox import Letterbox
from edge_app.perception.models import LoadedModel, ModelError, open_model

#: the embedding model shipped in models/ (manifest entry ``yolo11n-coco-embed-256``)
DEFAULT_EMBEDDER = Path(__file__).resolve().parents[2] / "models" / "yolo11n-coco-embed-256.onnx"
#: side of the square network input a crop is letterboxed into (chosen on val: 224 beat 320)
EMBED_SIZE = 224
#: accept a match only at or above this cosine: the largest best-score of an
#: *unknown* product on GroceryStoreDataset val (scripts/eval_recogniser.py)
UNKNOWN_THRESHOLD = 0.30
CATALOGUE_VERSION = 1


class CatalogueError(ValueError):
    """A catalogue file or an enrolment this lane must refuse (clear message, nothing changed)."""


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def to_tensor(crop_bgr: np.ndarray, size: int = EMBED_SIZE) -> np.ndarray:
    """A BGR crop, letterboxed (grey 114) to ``size``², as RGB NCHW float 0..1."""
    if crop_bgr.ndim != 3 or crop_bgr.shape[0] < 1 or crop_bgr.shape[1] < 1:
        raise ValueError(f"a crop must be an H×W×3 image, got shape {crop_bgr.shape}")
    lb = Letterbox.plan((crop_bgr.shape[1], crop_bgr.shape[0]), (size, size))
    rgb = cv2.cvtColor(lb.apply(crop_bgr), cv2.COLOR_BGR2RGB)
    return (rgb.transpose(2, 0, 1)[None].astype(np.float32)) / 255.0


class Embedder:
    """``embed(crop) -> unit vector``: the COCO YOLO11n backbone as a product descriptor."""

    def __init__(self, model: str | Path = DEFAULT_EMBEDDER, threads: int = 0):
        self.model: LoadedModel = open_model(model, threads=threads, require_manifest=True)
        if self.model.spec.task != "embed":
            raise ModelError(f"{model}: task is {self.model.spec.task!r}, not an embedding")

    @property
    def sha256(self) -> str:
        return self.model.sha256

    def embed(self, crop_bgr: np.ndarray) -> np.ndarray:
        """The L2-normalised embedding of one BGR crop (float32, 256 values)."""
        out = self.model.run(to_tensor(crop_bgr))[0]
        return _unit(out[0])


@dataclass(frozen=True)
class Match:
    """The catalogue's answer for one crop: the product, its cosine, and the runner-up's gap."""

    gtin: str
    name: str
    score: float
    margin: float


@dataclass
class Product:
    gtin: str
    name: str
    photos: int
    mean: np.ndarray  # mean of the enrolled unit embeddings (not renormalised: merges stay exact)


@dataclass
class Catalogue:
    """The lane's enrolled products, one prototype each; pure (no I/O but load/save)."""

    embedder_sha256: str
    threshold: float = UNKNOWN_THRESHOLD
    products: dict[str, Product] = field(default_factory=dict)

    def enrol(self, gtin: str, vectors: Iterable[np.ndarray], name: str = "") -> Product:
        """Add photos to a product (new or known); its prototype is the mean of all its photos."""
        vs = [_unit(v) for v in vectors]
        if not vs:
            raise CatalogueError(f"{gtin}: no photos to enrol")
        mean, n = np.mean(vs, axis=0), len(vs)
        old = self.products.get(gtin)
        if old is not None:
            mean = (old.mean * old.photos + mean * n) / (old.photos + n)
            n += old.photos
            name = name or old.name
        self.products[gtin] = Product(gtin, name, n, mean.astype(np.float32))
        return self.products[gtin]

    def remove(self, gtin: str) -> bool:
        return self.products.pop(gtin, None) is not None

    def scores(self, vector: np.ndarray) -> list[tuple[str, float]]:
        """Every product's cosine with ``vector``, best first."""
        if not self.products:
            return []
        gtins = list(self.products)
        protos = np.stack([_unit(self.products[g].mean) for g in gtins])
        sims = protos @ _unit(vector)
        return [(gtins[i], float(sims[i])) for i in np.argsort(-sims, kind="stable")]

    def best(self, vector: np.ndarray) -> Match | None:
        """The enrolled product this crop is, or ``None`` when it is none of them (unknown)."""
        ranked = self.scores(vector)
        if not ranked or ranked[0][1] < self.threshold:
            return None
        gtin, score = ranked[0]
        margin = score - ranked[1][1] if len(ranked) > 1 else score
        return Match(gtin, self.products[gtin].name, score, margin)

    def to_json(self) -> dict:
        return {
            "version": CATALOGUE_VERSION,
            "embedder_sha256": self.embedder_sha256,
            "threshold": self.threshold,
            "products": [
                {"gtin": p.gtin, "name": p.name, "photos": p.photos, "mean": p.mean.tolist()}
                for p in self.products.values()
            ],
        }

    @classmethod
    def from_json(cls, data: dict, where: str = "catalogue") -> Catalogue:
        if not isinstance(data, dict) or data.get("version") != CATALOGUE_VERSION:
            raise CatalogueError(f"{where}: not a version {CATALOGUE_VERSION} catalogue")
        try:
            cat = cls(str(data["embedder_sha256"]), float(data["threshold"]))
            for p in data["products"]:
                mean = np.asarray(p["mean"], np.float32)
                cat.products[str(p["gtin"])] = Product(
                    str(p["gtin"]), str(p.get("name", "")), int(p["photos"]), mean
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise CatalogueError(f"{where}: malformed catalogue ({exc})") from None
        return cat

    @classmethod
    def load(cls, path: str | Path, embedder_sha256: str) -> Catalogue:
        """The catalogue at ``path`` (empty when absent); refused if built by another embedder."""
        p = Path(path)
        if not p.exists():
            return cls(embedder_sha256)
        try:
            data = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise CatalogueError(f"{p}: unreadable catalogue ({exc})") from None
        cat = cls.from_json(data, str(p))
        if cat.embedder_sha256 != embedder_sha256:
            raise CatalogueError(
                f"{p}: enrolled with embedder sha256 {cat.embedder_sha256[:12]}…, this lane's is "
                f"{embedder_sha256[:12]}…; prototypes of another model cannot be compared, re-enrol"
            )
        return cat

    def save(self, path: str | Path) -> None:
        """Write atomically (temp file + rename): a crash never leaves half a catalogue."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=p.name, suffix=".tmp", dir=p.parent)
        with os.fdopen(fd, "w") as f:
            json.dump(self.to_json(), f)
        os.replace(tmp, p)
