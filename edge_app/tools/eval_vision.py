"""``edge-app eval-vision``: the lane's models scored on labelled real photos.

The measuring stick for real footage (issue 20): ``DIR/labels.csv`` names
each photo under ``DIR/images/``, its set, and the boxes of the held item and
of each hand holding it, in the photo's own pixels::

    file,set,class,x0,y0,x1,y1
    Royal-Gala_039.jpg,A,item,39,63,237,268
    Royal-Gala_039.jpg,A,hand,0,63,312,464

Every model runs through the lane's own code: ``YoloDetector`` and its
decoder, ``ClassRoles`` and the one-box-per-item rules at a lane file's
defaults (conf 0.25, NMS IoU 0.7), and the lane's MediaPipe hand backend. A
model's item boxes are its product classes (every class but ``person`` and
``hand``: a COCO model's any non-person box counts as an item); its hand boxes
are its ``hand`` class, or the hand backend's boxes.

Scoring (pure functions, :func:`match` and :func:`score_image`): boxes are
matched to labels one to one, best score first, each to the unmatched label it
overlaps most. A label is found at IoU >= 0.5; a hand label is also scored by
a looser rule, the box centre inside the labelled hand (how far a hand reaches
up the wrist or a sleeve is a matter of judgement, and a palm detector boxes
the palm only; the lane needs where the hand is). A box that matches no label
at IoU >= 0.5 is a false box: a shelf product, a second box on the held item,
a hand box on a fridge door. ``ms`` is the mean wall time of one photo
through the model and the lane's filters, after one warm-up photo.

    edge-app eval-vision tests/assets/vision_eval --json /tmp/vision.json
    edge-app eval-vision tests/assets/vision_eval --sheets /tmp/sheets   # check labels by eye
    edge-app eval-vision tests/assets/vision_eval --sheets /tmp/lane --draw lane-products-hands-320
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_app.perception.boxes import box_iou

ITEM, HAND = "item", "hand"
CLASSES = (ITEM, HAND)
REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / "models"
#: the shipped lane model, the COCO detector of the demo lane, the lane's MediaPipe backend
#: (palm + landmarks) and its palm detector alone
DEFAULT_MODELS = (
    "lane-products-hands-320",
    "yolo11n-coco-fp32dq-320",
    "mediapipe",
    "mediapipe-palm",
)
PALM_FILE = "mediapipe-palm-detection-128.onnx"
LANDMARK_FILE = "mediapipe-hand-landmark-224.onnx"


class LabelError(ValueError):
    """A labels file that cannot be scored against; the message names the line."""


# --------------------------------------------------------------------------
# Labels
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Truth:
    """The labelled boxes of one photo (xyxy, photo pixels)."""

    file: str
    set: str
    items: np.ndarray  # (M, 4)
    hands: np.ndarray  # (K, 4)


def _row_box(row: dict, where: str) -> tuple[float, float, float, float]:
    try:
        x0, y0, x1, y1 = (float(row[k]) for k in ("x0", "y0", "x1", "y1"))
    except (KeyError, TypeError, ValueError):
        raise LabelError(f"{where}: x0, y0, x1, y1 must be numbers") from None
    if not all(map(math.isfinite, (x0, y0, x1, y1))) or x1 <= x0 or y1 <= y0:
        raise LabelError(f"{where}: the box needs x0 < x1 and y0 < y1, got {x0, y0, x1, y1}")
    return x0, y0, x1, y1


def parse_labels(lines: Iterable[str], source: str = "labels.csv") -> list[Truth]:
    """``file,set,class,x0,y0,x1,y1`` rows → one :class:`Truth` per photo, in file order."""
    boxes: dict[str, dict[str, list]] = {}
    sets: dict[str, str] = {}
    reader = csv.DictReader(lines)
    missing = {"file", "set", "class", "x0", "y0", "x1", "y1"} - set(reader.fieldnames or ())
    if missing:
        raise LabelError(f"{source}: missing columns {sorted(missing)}")
    for row in reader:
        where = f"{source}:{reader.line_num}"
        name, label_set, cls = row["file"] or "", row["set"] or "", row["class"] or ""
        if not name or not label_set:
            raise LabelError(f"{where}: file and set must not be empty")
        if cls not in CLASSES:
            raise LabelError(f"{where}: class must be item or hand, got {cls!r}")
        if sets.setdefault(name, label_set) != label_set:
            raise LabelError(f"{where}: {name} is in set {sets[name]!r} and {label_set!r}")
        boxes.setdefault(name, {ITEM: [], HAND: []})[cls].append(_row_box(row, where))
    return [
        Truth(name, sets[name], _as_boxes(b[ITEM]), _as_boxes(b[HAND])) for name, b in boxes.items()
    ]


def _as_boxes(rows: Sequence) -> np.ndarray:
    return np.asarray(rows, np.float32).reshape(-1, 4)


def read_labels(folder: str | Path) -> list[Truth]:
    path = Path(folder) / "labels.csv"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise LabelError(f"{path}: {exc.strerror or exc}") from None
    return parse_labels(text.splitlines(), str(path))


# --------------------------------------------------------------------------
# Scoring: pure
# --------------------------------------------------------------------------


def centre_inside(boxes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(N, M) mask: the centre of box n lies inside label m.

    >>> centre_inside(np.array([[0, 0, 10, 10]]), np.array([[4, 4, 20, 20], [6, 6, 9, 9]])).tolist()
    [[True, False]]
    """
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    lab = np.asarray(labels, np.float32).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    return (
        (cx[:, None] >= lab[None, :, 0])
        & (cx[:, None] <= lab[None, :, 2])
        & (cy[:, None] >= lab[None, :, 1])
        & (cy[:, None] <= lab[None, :, 3])
    )


def match(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    iou: float = 0.5,
    centre: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching: (label found (M,), box matched (N,)).

    Boxes in descending score; each takes the unmatched label it overlaps most
    among those it qualifies for: IoU >= ``iou``, or with ``centre`` its
    centre inside the label (any overlap then decides between labels). A label
    is matched at most once, so a second box on one item is a false box.

    >>> lab = np.array([[0, 0, 10, 10]])
    >>> found, hit = match(np.array([[0, 0, 10, 9], [0, 0, 10, 10]]), np.array([0.5, 0.9]), lab)
    >>> found.tolist(), hit.tolist()
    ([True], [False, True])
    """
    b = np.asarray(boxes, np.float32).reshape(-1, 4)
    lab = np.asarray(labels, np.float32).reshape(-1, 4)
    found, hit = np.zeros(len(lab), bool), np.zeros(len(b), bool)
    if not len(b) or not len(lab):
        return found, hit
    overlap = box_iou(b, lab)
    ok = centre_inside(b, lab) if centre else overlap >= iou
    for i in np.argsort(-np.asarray(scores, np.float32).reshape(-1), kind="stable"):
        cand = ok[i] & ~found
        if cand.any():
            j = int(np.argmax(np.where(cand, overlap[i], -1.0)))
            found[j] = hit[i] = True
    return found, hit


@dataclass(frozen=True)
class Prediction:
    """One model's boxes on one photo (xyxy, photo pixels), with their scores."""

    items: np.ndarray
    item_scores: np.ndarray
    hands: np.ndarray
    hand_scores: np.ndarray

    @classmethod
    def of(cls, items=(), item_scores=(), hands=(), hand_scores=()) -> Prediction:
        return cls(
            _as_boxes(items),
            np.asarray(item_scores, np.float32).reshape(-1),
            _as_boxes(hands),
            np.asarray(hand_scores, np.float32).reshape(-1),
        )


def score_image(
    truth: Truth,
    pred: Prediction,
    *,
    items: bool = True,
    hands: bool = True,
    iou: float = 0.5,
) -> dict:
    """Counts for one photo; a model that does not look for items (hands) gets None there.

    ``item_top``: the best-scored item box is a held item (IoU >= ``iou``).
    """
    out: dict = {"file": truth.file, "set": truth.set}
    if items:
        found, hit = match(pred.items, pred.item_scores, truth.items, iou=iou)
        top = int(np.argmax(pred.item_scores)) if len(pred.items) else -1
        out |= {
            "items": len(truth.items),
            "items_found": int(found.sum()),
            "item_top": bool(top >= 0 and (box_iou(pred.items[top], truth.items) >= iou).any()),
            "item_boxes": len(pred.items),
            "false_items": int((~hit).sum()),
        }
    if hands:
        found, hit = match(pred.hands, pred.hand_scores, truth.hands, iou=iou)
        loose, loose_hit = match(pred.hands, pred.hand_scores, truth.hands, centre=True)
        out |= {
            "hands": len(truth.hands),
            "hands_found": int(found.sum()),
            "hands_found_centre": int(loose.sum()),
            "hand_boxes": len(pred.hands),
            "false_hands": int((~hit).sum()),
            "false_hands_centre": int((~loose_hit).sum()),
        }
    return out


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def summarise(rows: Sequence[dict]) -> dict:
    """Recalls, false boxes per photo and speed over a list of :func:`score_image` rows.

    >>> summarise([{"items": 1, "items_found": 1, "item_top": True, "item_boxes": 3,
    ...             "false_items": 2, "ms": 10.0}])["item_recall"]
    1.0
    """
    n = len(rows)
    out: dict = {"images": n}

    def total(key: str) -> int:
        return sum(int(r[key]) for r in rows)

    if n and "items" in rows[0]:
        out |= {
            "item_labels": total("items"),
            "item_recall": _ratio(total("items_found"), total("items")),
            "item_top": _ratio(total("item_top"), n),
            "item_boxes_per_image": round(total("item_boxes") / n, 3),
            "false_items_per_image": round(total("false_items") / n, 3),
        }
    if n and "hands" in rows[0]:
        out |= {
            "hand_labels": total("hands"),
            "hand_recall": _ratio(total("hands_found"), total("hands")),
            "hand_recall_centre": _ratio(total("hands_found_centre"), total("hands")),
            "hand_boxes_per_image": round(total("hand_boxes") / n, 3),
            "false_hands_per_image": round(total("false_hands") / n, 3),
            "false_hands_centre_per_image": round(total("false_hands_centre") / n, 3),
        }
    if n:
        out["false_boxes_per_image"] = round(
            sum(r.get("false_items", 0) + r.get("false_hands", 0) for r in rows) / n, 3
        )
    ms = [r["ms"] for r in rows if r.get("ms") is not None]
    if ms:
        out |= {
            "ms_mean": round(statistics.fmean(ms), 2),
            "ms_p50": round(statistics.median(ms), 2),
        }
    return out


# --------------------------------------------------------------------------
# Models: the lane's own code
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Model:
    """A model under test: photo in, :class:`Prediction` out."""

    name: str
    finds_items: bool
    finds_hands: bool
    run: Callable[[np.ndarray], Prediction]


def detector_model(path: Path, *, conf: float, iou: float, threads: int) -> Model:
    """A YOLO file as a lane file with its defaults runs it: split into roles, one box per item."""
    from edge_app.config import ProductModelConfig
    from edge_app.perception.filters import ClassRoles, OneBoxPerItem
    from edge_app.perception.yolo import YoloDetector

    det = YoloDetector(path, conf=conf, iou=iou, threads=threads)
    if det.task != "detect":
        raise ValueError(f"{path}: a {det.task} model; eval-vision scores detect models")
    hand_class = "hand" if "hand" in det.names else None
    roles = ClassRoles.of(
        det.names,
        wanted=[n for n in det.names if n not in ("person", "hand")],
        hand_class=hand_class,
    )
    one_box = OneBoxPerItem.from_config(ProductModelConfig(path=str(path), conf=conf, iou=iou))

    def run(frame: np.ndarray) -> Prediction:
        items, hands, _ = roles.split(det.detect(frame))
        items = one_box.apply(items, hands)
        if hands is None:
            return Prediction.of(items.xyxy, items.score)
        return Prediction.of(items.xyxy, items.score, hands.xyxy, hands.score)

    return Model(det.spec.name, True, hand_class is not None, run)


def mediapipe_model(
    models_dir: Path, *, conf: float, threads: int, palm_only: bool = False
) -> Model:
    """The lane's MediaPipe backend (palm + landmarks: the landmarks' box), or its palm boxes."""
    from edge_app.config import HandModelConfig
    from edge_app.perception.hands import MediaPipeHands, make_hand_backend

    cfg = HandModelConfig(
        backend="mediapipe",
        palm_path=str(models_dir / PALM_FILE),
        landmark_path=str(models_dir / LANDMARK_FILE),
        conf=conf,
    )
    backend = make_hand_backend(cfg, Path, threads=threads)
    assert isinstance(backend, MediaPipeHands)

    def run(frame: np.ndarray) -> Prediction:
        if palm_only:
            palms = backend.palms(frame)
            return Prediction.of(hands=[p.box for p in palms], hand_scores=[p.score for p in palms])
        found = backend.detect(frame)
        return Prediction.of(hands=[h.box for h in found], hand_scores=[h.score for h in found])

    return Model("mediapipe-palm" if palm_only else "mediapipe", False, True, run)


def build_model(
    name: str,
    models_dir: Path = MODELS_DIR,
    *,
    conf: float = 0.25,
    iou: float = 0.7,
    hand_conf: float = 0.6,
    threads: int = 0,
) -> Model:
    """``mediapipe``, ``mediapipe-palm``, a name in ``models/manifest.yaml`` or an ONNX path."""
    if name in ("mediapipe", "mediapipe-palm"):
        return mediapipe_model(
            models_dir, conf=hand_conf, threads=threads, palm_only=name == "mediapipe-palm"
        )
    from edge_app.perception.models import load_manifest

    path = Path(name)
    if not name.endswith(".onnx"):
        manifest = load_manifest(models_dir / "manifest.yaml")
        if name not in manifest:
            raise ValueError(f"unknown model {name!r}: not in {models_dir / 'manifest.yaml'}")
        path = models_dir / manifest[name].file
    return detector_model(path, conf=conf, iou=iou, threads=threads)


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------


def load_photo(folder: Path, truth: Truth) -> np.ndarray:
    frame = cv2.imread(str(folder / "images" / truth.file), cv2.IMREAD_COLOR)
    if frame is None:
        raise LabelError(f"{folder / 'images' / truth.file}: not a readable image")
    return frame


def run_model(
    model: Model,
    truths: Sequence[Truth],
    photos: Callable[[Truth], np.ndarray],
    *,
    clock: Callable[[], float] = time.perf_counter,
) -> list[dict]:
    """One :func:`score_image` row per photo, with ``ms``; one untimed warm-up photo first."""
    rows = []
    if truths:
        model.run(photos(truths[0]))
    for truth in truths:
        frame = photos(truth)
        t0 = clock()
        pred = model.run(frame)
        ms = (clock() - t0) * 1000.0
        row = score_image(truth, pred, items=model.finds_items, hands=model.finds_hands)
        rows.append(row | {"ms": round(ms, 3)})
    return rows


def report(rows_by_model: dict[str, list[dict]]) -> dict:
    """``{model: {set: summary, ..., "all": summary}}``."""
    out: dict = {}
    for name, rows in rows_by_model.items():
        sets = sorted({r["set"] for r in rows})
        out[name] = {s: summarise([r for r in rows if r["set"] == s]) for s in sets}
        out[name]["all"] = summarise(rows)
    return out


COLUMNS = (
    ("item R@.5", "item_recall", "{:.2f}"),
    ("top=item", "item_top", "{:.2f}"),
    ("hand R@.5", "hand_recall", "{:.2f}"),
    ("hand R ctr", "hand_recall_centre", "{:.2f}"),
    ("false items/img", "false_items_per_image", "{:.2f}"),
    ("false hands/img", "false_hands_per_image", "{:.2f}"),
    ("ms/img", "ms_mean", "{:.1f}"),
)


def format_table(summary: dict) -> str:
    """Models side by side, one block of rows per set; '-' where a model does not look."""
    width = max([len(m) for m in summary] + [5])
    head = f"{'set':<4} {'model':<{width}} " + " ".join(f"{h:>15}" for h, _, _ in COLUMNS)
    lines = [head]
    sets = sorted({s for per_set in summary.values() for s in per_set if s != "all"}) + ["all"]
    for s in sets:
        for name, per_set in summary.items():
            row = per_set.get(s)
            if not row:
                continue
            cells = [
                f"{(fmt.format(row[k]) if row.get(k) is not None else '-'):>15}"
                for _, k, fmt in COLUMNS
            ]
            lines.append(f"{s:<4} {name:<{width}} " + " ".join(cells))
    return "\n".join(lines)


# --------------------------------------------------------------------------
# Contact sheets of the labels
# --------------------------------------------------------------------------

ITEM_COLOUR, HAND_COLOUR = (0, 200, 0), (255, 128, 0)
#: a model's boxes (``--draw``): items magenta, hands red, thin
PRED_ITEM_COLOUR, PRED_HAND_COLOUR = (255, 0, 255), (0, 0, 255)


def _draw_boxes(img, boxes, scale: float, colour, tag: str, thickness: int) -> None:
    for b in np.asarray(boxes, np.float32).reshape(-1, 4) * scale:
        x0, y0, x1, y1 = (int(round(v)) for v in b)
        cv2.rectangle(img, (x0, y0), (x1, y1), colour, thickness)
        if tag:
            cv2.putText(img, tag, (x0 + 3, y0 + 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1)


def draw_labels(
    frame: np.ndarray, truth: Truth, pred: Prediction | None = None, height: int = 320
) -> np.ndarray:
    """The photo at ``height`` px: item (green) and hand (blue) labels, a model's boxes, its name."""
    scale = height / frame.shape[0]
    img = cv2.resize(frame, (round(frame.shape[1] * scale), height), interpolation=cv2.INTER_AREA)
    if pred is not None:
        _draw_boxes(img, pred.items, scale, PRED_ITEM_COLOUR, "", 1)
        _draw_boxes(img, pred.hands, scale, PRED_HAND_COLOUR, "", 1)
    _draw_boxes(img, truth.items, scale, ITEM_COLOUR, "item", 2)
    _draw_boxes(img, truth.hands, scale, HAND_COLOUR, "hand", 2)
    caption = np.full((22, img.shape[1], 3), 255, np.uint8)
    cv2.putText(caption, f"{truth.set} {truth.file}"[:48], (3, 15), 0, 0.4, (0, 0, 0), 1)
    return np.vstack([img, caption])


def contact_sheets(
    folder: Path,
    truths: Sequence[Truth],
    out: Path,
    *,
    model: Model | None = None,
    per_sheet: int = 12,
    cols: int = 4,
) -> list[Path]:
    """Every photo with its labels (and ``model``'s boxes), ``per_sheet`` to a PNG, to check by eye."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for k in range(0, len(truths), per_sheet):
        cells = []
        for t in truths[k : k + per_sheet]:
            frame = load_photo(folder, t)
            cells.append(draw_labels(frame, t, model.run(frame) if model else None))
        w = max(c.shape[1] for c in cells)
        h = max(c.shape[0] for c in cells)
        padded = [
            cv2.copyMakeBorder(c, 0, h - c.shape[0], 0, w - c.shape[1], cv2.BORDER_CONSTANT)
            for c in cells
        ]
        padded += [np.zeros_like(padded[0])] * (-len(padded) % cols)
        rows = [np.hstack(padded[i : i + cols]) for i in range(0, len(padded), cols)]
        path = out / f"sheet-{k // per_sheet + 1:02d}.png"
        cv2.imwrite(str(path), np.vstack(rows))
        written.append(path)
    return written


# --------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------


def evaluate(
    folder: Path, truths: Sequence[Truth], models: Sequence[Model]
) -> tuple[dict, dict[str, list[dict]]]:
    """(summary per model and set, per-photo rows per model)."""
    cache: dict[str, np.ndarray] = {}

    def photos(t: Truth) -> np.ndarray:
        if t.file not in cache:
            cache[t.file] = load_photo(folder, t)
        return cache[t.file]

    rows = {m.name: run_model(m, truths, photos) for m in models}
    return report(rows), rows


def _select(truths: list[Truth], sets: Sequence[str] | None, limit: int | None) -> list[Truth]:
    if sets:
        unknown = set(sets) - {t.set for t in truths}
        if unknown:
            raise LabelError(f"no photos in set {sorted(unknown)}")
        truths = [t for t in truths if t.set in sets]
    return truths[:limit] if limit else truths


def _build(args: argparse.Namespace, name: str) -> Model:
    return build_model(
        name,
        Path(args.models_dir),
        conf=args.conf,
        iou=args.iou,
        hand_conf=args.hand_conf,
        threads=args.threads,
    )


def run(args: argparse.Namespace) -> int:
    from edge_app.perception.models import ModelError

    folder = Path(args.dir)
    try:
        truths = _select(read_labels(folder), args.set, args.limit)
        if args.sheets:
            drawn = _build(args, args.draw) if args.draw else None
            for p in contact_sheets(folder, truths, Path(args.sheets), model=drawn):
                print(p)
            return 0
        models = [_build(args, m) for m in args.models]
        load_before = os.getloadavg()[0]
        summary, rows = evaluate(folder, truths, models)
    except (LabelError, ModelError, ValueError, OSError) as exc:
        print(f"edge-app eval-vision: {exc}", file=sys.stderr)
        return 2
    print(format_table(summary))
    if args.json:
        settings = {k: getattr(args, k) for k in ("conf", "iou", "hand_conf", "threads")}
        # ms means little without the machine's load (the 2-core dev box is shared)
        cpu = {"cores": os.cpu_count(), "load_1m": [load_before, os.getloadavg()[0]]}
        doc = {
            "dir": str(folder),
            "settings": settings,
            "cpu": cpu,
            "models": summary,
            "images": rows,
        }
        Path(args.json).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="folder with labels.csv and images/ (tests/assets/vision_eval)")
    p.add_argument("--json", metavar="OUT", help="also write the summary and per-photo rows here")
    p.add_argument(
        "--models",
        nargs="+",
        default=list(DEFAULT_MODELS),
        metavar="MODEL",
        help="names in models/manifest.yaml, ONNX paths, 'mediapipe' (palm + landmarks) or "
        f"'mediapipe-palm' (default: {' '.join(DEFAULT_MODELS)})",
    )
    p.add_argument("--models-dir", default=str(MODELS_DIR), help="where model names are looked up")
    p.add_argument("--set", nargs="+", help="only these sets (default: every set)")
    p.add_argument("--limit", type=int, help="only the first N photos (a quick check)")
    p.add_argument("--conf", type=float, default=0.25, help="detector score threshold (0.25)")
    p.add_argument("--iou", type=float, default=0.7, help="detector NMS IoU (0.7)")
    p.add_argument(
        "--hand-conf", type=float, default=0.6, help="MediaPipe palm threshold (0.6, as the lane)"
    )
    p.add_argument(
        "--threads", type=int, default=0, help="ONNX Runtime intra-op threads (0: one per core)"
    )
    p.add_argument(
        "--sheets", metavar="OUT", help="draw every label on contact sheets in OUT and stop"
    )
    p.add_argument(
        "--draw", metavar="MODEL", help="with --sheets: also draw this model's boxes (thin)"
    )


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``eval-vision`` to the CLI's ``add_subparsers()``."""
    p = subparsers.add_parser(
        "eval-vision", help="score the detectors and hand models on labelled real photos"
    )
    add_arguments(p)
    p.set_defaults(func=run)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="edge-app eval-vision", description=(__doc__ or "").splitlines()[0]
    )
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
