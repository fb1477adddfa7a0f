"""`edge-app models list | train | export`: the model registry and the training recipe.

Training needs torch + ultralytics, which never go on a kiosk: ``train`` and
``export`` run ``scripts/train_lane_model.py`` with a *separate* interpreter
(``--python``, default ``$EDGE_APP_TRAIN_PYTHON`` or ``/tmp/ulvenv/bin/python``;
``pip install -e .[train]`` in that venv). This module imports neither.

    edge-app models list
    edge-app models train --images 2400 --val-images 300 --time-h 0.35      # the shipped recipe
    edge-app models export --checkpoint /tmp/lane-runs/lane320/weights/best.pt
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "train_lane_model.py"
DEFAULT_ONNX = REPO / "models" / "lane-products-hands-320.onnx"


def train_python() -> str:
    return os.environ.get("EDGE_APP_TRAIN_PYTHON", "/tmp/ulvenv/bin/python")


def _list(args) -> int:
    import yaml

    manifest = yaml.safe_load((REPO / "models" / "manifest.yaml").read_text())
    for name, entry in manifest["models"].items():
        path = REPO / "models" / entry["file"]
        if not path.is_file():
            state = "missing"
        elif args.check:
            state = (
                "ok"
                if hashlib.sha256(path.read_bytes()).hexdigest() == entry.get("sha256")
                else "SHA256 MISMATCH"
            )
        else:
            state = "present"
        names = entry.get("names") or []
        print(
            f"{name:32s} {entry.get('task', '?'):7s} {entry.get('format', '?'):18s} "
            f"{len(names):3d} classes  {state:8s} {entry.get('licence', '')}"
        )
    return 0


def _command(args, extra: list[str]) -> list[str]:
    cmd = [args.python or train_python(), str(SCRIPT), *extra]
    if args.nice:
        cmd = ["nice", "-n", str(args.nice), *cmd]
    return cmd


def _run(cmd: list[str], dry_run: bool) -> int:
    print("+ " + " ".join(shlex.quote(c) for c in cmd), flush=True)
    if dry_run:
        return 0
    env = {**os.environ, "YOLO_OFFLINE": "1"}
    return subprocess.call(cmd, env=env)


def _train(args) -> int:
    from edge_app.sim.dataset import write_dataset

    data, val = Path(args.data_dir), Path(args.val_dir)
    if not (data / "data.yaml").is_file():
        print(
            f"writing the training set {data} ({args.images} images, seed {args.seed})", flush=True
        )
        if not args.dry_run:
            write_dataset(data, args.seed, args.images, val_fraction=0.07)
    if not (val / "data.yaml").is_file():
        print(
            f"writing the fresh validation set {val} ({args.val_images} images, seed "
            f"{args.val_seed})",
            flush=True,
        )
        if not args.dry_run:
            write_dataset(val, args.val_seed, args.val_images, val_fraction=1.0)
    extra = [
        "--data",
        str(data / "data.yaml"),
        "--val-data",
        str(val / "data.yaml"),
        "--project",
        args.project,
        "--name",
        args.name,
        "--epochs",
        str(args.epochs),
        "--imgsz",
        str(args.imgsz),
        "--batch",
        str(args.batch),
        "--onnx",
        str(args.onnx),
        "--metrics",
        str(Path(args.project) / args.name / "metrics.json"),
    ]
    if args.time_h:
        extra += ["--time-h", str(args.time_h)]
    return _run(_command(args, extra), args.dry_run)


def _export(args) -> int:
    extra = [
        "--data",
        str(Path(args.val_dir) / "data.yaml"),
        "--skip-train",
        args.checkpoint,
        "--onnx",
        str(args.onnx),
        "--imgsz",
        str(args.imgsz),
    ]
    if (Path(args.val_dir) / "data.yaml").is_file():
        extra += ["--val-data", str(Path(args.val_dir) / "data.yaml")]
    return _run(_command(args, extra), args.dry_run)


def register(subparsers) -> None:
    m = subparsers.add_parser(
        "models", help="the model registry; train/export the lane-view detector (separate venv)"
    )
    sub = m.add_subparsers(dest="models_command", metavar="MODELS_COMMAND", required=True)

    ls = sub.add_parser("list", help="models in models/manifest.yaml")
    ls.add_argument("--check", action="store_true", help="verify every file's sha256")
    ls.set_defaults(func=_list)

    def common(p):
        p.add_argument(
            "--python",
            help="training interpreter (default: $EDGE_APP_TRAIN_PYTHON or /tmp/ulvenv/bin/python)",
        )
        p.add_argument(
            "--nice", type=int, default=10, help="run it under nice -n N (0: not at all)"
        )
        p.add_argument("--imgsz", type=int, default=320)
        p.add_argument("--onnx", default=str(DEFAULT_ONNX), help="where the exported ONNX goes")
        p.add_argument(
            "--val-dir", default="/tmp/lane-val", help="fresh validation set (written when missing)"
        )
        p.add_argument("--dry-run", action="store_true", help="print the command only")

    t = sub.add_parser(
        "train",
        help="generate the synthetic sets (if missing), train from scratch, export, validate",
    )
    common(t)
    t.add_argument("--data-dir", default="/tmp/lane-ds")
    t.add_argument("--images", type=int, default=2400)
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--val-images", type=int, default=300)
    t.add_argument("--val-seed", type=int, default=2)
    t.add_argument("--project", default="/tmp/lane-runs")
    t.add_argument("--name", default="lane320")
    t.add_argument("--epochs", type=int, default=40)
    t.add_argument(
        "--time-h",
        type=float,
        default=0.35,
        help="training wall-clock budget in hours (0: use --epochs)",
    )
    t.add_argument("--batch", type=int, default=8)
    t.set_defaults(func=_train)

    e = sub.add_parser(
        "export", help="export a checkpoint to ONNX (opset 17, simplify, nms=False) and validate it"
    )
    common(e)
    e.add_argument("--checkpoint", required=True, help="best.pt of a training run")
    e.set_defaults(func=_export)


if __name__ == "__main__":  # pragma: no cover
    import argparse

    p = argparse.ArgumentParser(prog="edge-app")
    register(p.add_subparsers(dest="command"))
    a = p.parse_args()
    sys.exit(a.func(a))
