"""Measure the product recogniser on GroceryStoreDataset (Klasson et al., WACV 2019; MIT).

Reproduces docs/MODELS.md "Product recognition". Needs the dataset's
``dataset/`` folder (never committed), e.g.:

    # fetch github:marcusklasson/GroceryStoreDataset (commit fc80ba90), then
    git --git-dir=<mirror> archive HEAD dataset | tar -x -C /tmp/gsd
    python scripts/eval_recogniser.py /tmp/gsd/dataset --json /tmp/recogniser.json

Every photo goes through ``edge_app.perception.recogniser.Embedder`` (the lane's
own code path). Train split: prototypes (mean embedding per class) and a
softmax-regression probe; val split: every choice (the probe's L2 weight, the
unknown threshold); test split: the reported numbers only.

Unknown threshold: classes with an even fine id are "enrolled" (train
prototypes), odd ones play unknown products; the threshold is the largest best
cosine any unknown val photo reaches (so no unknown val photo is accepted).
On test: how many unknown photos would still be accepted, and how many known
ones are accepted and right.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from edge_app.perception.recogniser import Catalogue, Embedder  # noqa: E402

SPLITS = ("train", "val", "test")
N_CLASSES = 81


def read_split(root: Path, split: str) -> list[tuple[Path, int]]:
    rows = []
    for line in (root / f"{split}.txt").read_text().splitlines():
        if line.strip():
            path, fine, _coarse = (s.strip() for s in line.split(","))
            rows.append((root / path, int(fine)))
    return rows


def embed_split(emb: Embedder, rows, times: list[float]) -> np.ndarray:
    out = []
    for path, _ in rows:
        img = cv2.imread(str(path))
        if img is None:
            raise SystemExit(f"{path}: unreadable")
        t = time.perf_counter()
        out.append(emb.embed(img))
        times.append(time.perf_counter() - t)
    return np.stack(out)


def topk(scores: np.ndarray, y: np.ndarray) -> dict:
    order = np.argsort(-scores, axis=1)
    return {
        "top1": round(float((order[:, 0] == y).mean()), 4),
        "top5": round(float((order[:, :5] == y[:, None]).any(1).mean()), 4),
        "n": int(len(y)),
    }


def prototypes(x: np.ndarray, y: np.ndarray, classes) -> np.ndarray:
    p = np.stack([x[y == c].mean(0) for c in classes])
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def softmax_probe(x, y, lam, epochs=300, lr=0.05):
    """Multinomial logistic regression (Adam, full batch) on standardised embeddings."""
    mu, sd = x.mean(0), x.std(0) + 1e-6
    z = (x - mu) / sd
    w, b = np.zeros((z.shape[1], N_CLASSES)), np.zeros(N_CLASSES)
    onehot = np.eye(N_CLASSES)[y]
    state = [np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)]
    for t in range(1, epochs + 1):
        s = z @ w + b
        p = np.exp(s - s.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(y)
        for param, grad, m, v in ((w, z.T @ g + lam * w, *state[:2]), (b, g.sum(0), *state[2:])):
            m *= 0.9
            m += 0.1 * grad
            v *= 0.999
            v += 0.001 * grad * grad
            param -= lr * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return lambda q: ((q - mu) / sd) @ w + b


def unknown_check(x, y, split_x, split_y, thr_from=None):
    """Even classes enrolled, odd ones unknown: best cosine over the enrolled prototypes."""
    known = list(range(0, N_CLASSES, 2))
    protos = prototypes(x, y, known)
    best = (split_x @ protos.T).max(1)
    arg = np.array(known)[(split_x @ protos.T).argmax(1)]
    is_known = split_y % 2 == 0
    thr = float(np.ceil(best[~is_known].max() * 100) / 100) if thr_from is None else thr_from
    acc = best >= thr
    return thr, {
        "threshold": thr,
        "unknown_photos": int((~is_known).sum()),
        "unknown_accepted": int((acc & ~is_known).sum()),
        "known_photos": int(is_known.sum()),
        "known_accepted": int((acc & is_known).sum()),
        "known_accepted_right": int((acc & is_known & (arg == split_y)).sum()),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset", type=Path, help="GroceryStoreDataset's dataset/ folder")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    ap.add_argument("--cache", type=Path, help="npz of embeddings, reused when present")
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    rows = {s: read_split(a.dataset, s) for s in SPLITS}
    emb = Embedder(threads=a.threads)
    times: list[float] = []
    if a.cache and a.cache.exists():
        data = np.load(a.cache)
        x = {s: data[s] for s in SPLITS}
    else:
        x = {s: embed_split(emb, rows[s], times) for s in SPLITS}
        if a.cache:
            np.savez(a.cache, **x)
    y = {s: np.array([c for _, c in rows[s]]) for s in SPLITS}
    protos = prototypes(x["train"], y["train"], range(N_CLASSES))
    res: dict = {"embedder_sha256": emb.sha256, "photos": {s: len(rows[s]) for s in SPLITS}}
    res["prototypes"] = {s: topk(x[s] @ protos.T, y[s]) for s in ("val", "test")}
    probes = {lam: softmax_probe(x["train"], y["train"], lam) for lam in (1e-3, 1e-2, 3e-2)}
    val = {lam: topk(f(x["val"]), y["val"]) for lam, f in probes.items()}
    lam = max(val, key=lambda k: (val[k]["top1"], val[k]["top5"]))
    res["linear"] = {"l2": lam, "val": val[lam], "test": topk(probes[lam](x["test"]), y["test"])}
    thr, res["unknown_val"] = unknown_check(x["train"], y["train"], x["val"], y["val"])
    res["unknown_test"] = unknown_check(x["train"], y["train"], x["test"], y["test"], thr)[1]
    res["catalogue_default_threshold"] = Catalogue("").threshold
    if times:
        res["embed_ms_per_crop"] = {
            "median": round(1000 * float(np.median(times)), 1),
            "p90": round(1000 * float(np.percentile(times, 90)), 1),
            "n": len(times),
        }
    print(json.dumps(res, indent=1))
    if a.json:
        a.json.write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
