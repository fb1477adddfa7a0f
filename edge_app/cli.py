"""`edge-app`: the one command a technician and CI need.

Sub-commands are imported only when used, so `edge-app --help` and
`validate-config` start in a fraction of a second on a Pi.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from pathlib import Path

from edge_app import __version__
from edge_app.redact import install_log_redaction, redact

#: modules that add their own sub-commands through ``register(subparsers)``
PLUGIN_COMMANDS = (
    "edge_app.tools.evaluate",
    "edge_app.tools.predict",
    "edge_app.tools.eval_vision",
    "edge_app.tools.scanner_cli",
    "edge_app.tools.monitor",
    "edge_app.tools.bench",
    "edge_app.tools.soak",
    "edge_app.sim.cli",
    "edge_app.tools.models_cli",
    "edge_app.tools.catalog_cli",
)


def _demo(args) -> int:
    from edge_app.tools.demo import DEMO_CONFIG, DEMO_SCENARIO, run_replay

    return run_replay(
        Path(args.config or DEMO_CONFIG),
        Path(args.scenario or DEMO_SCENARIO),
        mqtt_url=args.mqtt_url,
        state_dir=args.state_dir,
        realtime=args.realtime,
        json_out=args.json,
    )


def _run(args) -> int:
    from edge_app.lane.live import run_live
    from edge_app.tools.demo import run_replay

    if args.replay:
        return run_replay(
            Path(args.config),
            Path(args.replay),
            mqtt_url=args.mqtt_url,
            state_dir=args.state_dir,
            realtime=args.realtime,
            private_broker=False,
            json_out=args.json,
        )
    return run_live(Path(args.config), mqtt_url=args.mqtt_url, state_dir=args.state_dir)


def _validate(args) -> int:
    """Check each lane file as far as possible without starting the lane.

    The schema; then (unless ``--no-files``) each model the file names opens
    and fits its decoder and the classes the file uses; then the light and
    the evidence face detector. A light or face detector that cannot be made
    here is a warning, not a failure: the lane itself runs on without it
    (NoLight; the privacy band) and reports ``status/light`` / ``status/evidence``.
    """
    from edge_app.config import ConfigError, config_hash, line_finder, load_config

    failed = 0
    for path in args.config:
        try:
            cfg = load_config(path)
        except ConfigError as exc:
            for line in exc.lines:
                print(line, file=sys.stderr)
            failed += 1
            continue
        where = _Where(path, line_finder(Path(path).read_text(encoding="utf-8")))
        problems = [] if args.no_files else _missing_files(cfg, where)
        if not problems and not args.no_files:
            problems = _model_problems(cfg, where)
        warnings = _light_warnings(cfg, where)
        if not args.no_files:
            warnings += _face_warnings(cfg, where)
        for line in problems + warnings:
            print(line, file=sys.stderr)
        failed += bool(problems)
        if not problems:
            print(f"{path}: ok (lane {cfg.store_id}/{cfg.lane_id}, config {config_hash(cfg)})")
    return 1 if failed else 0


class _Where:
    """``file:line: key: problem``, the form of every lane-file error."""

    def __init__(self, path: str, line_of) -> None:
        self.path, self.line_of = path, line_of

    def __call__(self, loc: tuple, problem: str) -> str:
        return f"{self.path}:{self.line_of(loc)}: {'.'.join(map(str, loc))}: {problem}"


def _missing_files(cfg, where: _Where) -> list[str]:
    out = []
    m = cfg.models
    for *key, value in (
        ("products", "path", m.products.path),
        ("hands", "palm_path", m.hands.palm_path),
        ("hands", "landmark_path", m.hands.landmark_path),
        ("hands", "pose_path", m.hands.pose_path),
    ):
        if value and not cfg.resolve(value).is_file():
            out.append(where(("models", *key), f"file not found: {cfg.resolve(value)}"))
    return out


def _model_slots(m) -> list[tuple[tuple, str | None, str, str | None]]:
    """(key, file, slot, sha256) of each model the lane opens, as perception/build.py does."""
    slots = [(("models", "products", "path"), m.products.path, "detector", m.products.sha256)]
    h = m.hands
    if h.backend == "mediapipe":
        slots.append((("models", "hands", "palm_path"), h.palm_path, "palm", None))
        slots.append((("models", "hands", "landmark_path"), h.landmark_path, "landmark", None))
    elif h.backend == "yolo_pose":
        slots.append((("models", "hands", "pose_path"), h.pose_path, "pose", None))
    return slots


def _model_problems(cfg, where: _Where) -> list[str]:
    """Open each model on CPU (no warm-up) and check its head and the classes the file uses."""
    from edge_app.perception.models import ModelError, check_model

    out, product = [], None
    for loc, value, slot, sha in _model_slots(cfg.models):
        if not value:
            backend = cfg.models.hands.backend
            out.append(where(loc, f"the {backend} hands backend needs this model file"))
            continue
        try:
            spec = check_model(
                cfg.resolve(value),
                slot,
                expected_sha256=sha,
                # as at run: the product model is in the manifest or its sha256 is in the file
                require_manifest=slot == "detector" and sha is None,
            )
        except ModelError as exc:
            out.append(where(loc, str(exc)))
            continue
        if slot == "detector":
            product = spec
    if product is not None:
        out += _class_problems(cfg, product.name, list(product.names), where)
    return out


def _class_problems(cfg, model: str, names: list[str], where: _Where) -> list[str]:
    """Classes the model lacks, and the detector's hand class used as a product."""
    out = []
    hands = cfg.models.hands
    hand = hands.detector_class if hands.backend == "detector" else None
    for loc, name in _class_uses(cfg):
        if name not in names:
            problem = f"class {name!r} is not a class of the model {model!r}"
        elif name == hand and loc[:2] != ("models", "hands"):
            problem = f"class {name!r} is the hands backend's class; a hand is never a product"
        else:
            continue
        out.append(where(loc, f"{problem}; it has: {', '.join(names)}"))
    return out


def _class_uses(cfg) -> list[tuple[tuple, str]]:
    """Every class name the lane file uses, with its key."""
    m = cfg.models
    uses: list[tuple[tuple, str]] = [
        (("models", "products", "classes", i), c) for i, c in enumerate(m.products.classes)
    ]
    if m.hands.backend == "detector":
        uses.append((("models", "hands", "detector_class"), m.hands.detector_class))
    for gtin, item in cfg.catalog.items.items():
        if "label" in item:  # the ticket-switch check compares it with the carried item's class
            uses.append((("catalog", "items", gtin, "label"), str(item["label"])))
    return uses


def _face_warnings(cfg, where: _Where) -> list[str]:
    """The evidence face detector opened as the writer opens it; a failure is a warning."""
    ev = cfg.evidence
    if not (ev.enabled and ev.blur_faces) or ev.faces == "none":
        return []
    from edge_app.perception.faces import make_face_detector
    from edge_app.perception.models import ModelError

    try:
        make_face_detector(ev.faces)
        return []
    except (ModelError, OSError) as exc:
        why = str(exc)
    return [
        where(
            ("evidence", "faces"),
            f"warning: the {ev.faces} face detector cannot run here ({why}); clips would blur "
            "the privacy band instead and status/evidence would say so",
        )
    ]


def _light_warnings(cfg, where: _Where) -> list[str]:
    """The light created as the lane creates it; a failure is a warning (the lane runs on).

    The light is neither shown nor closed: closing shows 'off' (a console
    line, a write to a USB tower), and this process ends here anyway.
    """
    import warnings

    from edge_app.devices.lights.registry import make_light

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # gpiozero says why each pin factory failed
        try:
            make_light(cfg.light, publish=lambda *a: None, on_status=lambda ok, detail: None)
            return []
        except Exception as exc:
            why = "; ".join([f"{type(exc).__name__}: {exc}", *(str(w.message) for w in caught)])
    return [
        where(
            ("light", "type"),
            f"warning: the {cfg.light.type} light cannot be created on this machine ({redact(why)}); "
            "the lane would run without a light and report status/light down",
        )
    ]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edge-app",
        description="Smart self-checkout edge vision: catches missed scans at one lane.",
        epilog="Start with `edge-app demo`. Docs: README.md, docs/ARCHITECTURE.md.",
    )
    p.add_argument("--version", action="version", version=f"edge-app {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    d = sub.add_parser(
        "demo", help="replay the bundled demo lane (no camera, scanner or broker needed)"
    )
    d.add_argument("--config", help="lane YAML (default: calibration/demo/lane.yaml)")
    d.add_argument("--scenario", help="scenario folder (default: calibration/demo/session-001)")
    d.add_argument(
        "--mqtt-url", help="mqtt[s]://[user:pass@]host[:port] (default: a private mosquitto)"
    )
    d.add_argument(
        "--state-dir", help="where the outbox and evidence go (default: a temporary folder)"
    )
    d.add_argument(
        "--realtime",
        action="store_true",
        help="play at camera speed instead of as fast as possible",
    )
    d.add_argument("--json", metavar="OUT", help="also write the events and the score as JSON")
    d.set_defaults(func=_demo)

    r = sub.add_parser("run", help="run a lane: live devices, or --replay a recorded scenario")
    r.add_argument("--config", required=True, help="lane YAML")
    r.add_argument(
        "--replay",
        metavar="SCENARIO_DIR",
        help="replay this scenario instead of the live camera/scanners",
    )
    r.add_argument("--mqtt-url", help="override the broker of the config")
    r.add_argument(
        "--state-dir", help="override the state folder ($STATE_DIRECTORY, under systemd, wins)"
    )
    r.add_argument("--realtime", action="store_true", help="(replay) play at camera speed")
    r.add_argument("--json", metavar="OUT", help="(replay) write events and score as JSON")
    r.set_defaults(func=_run)

    v = sub.add_parser(
        "validate-config", help="check lane YAML files; one line per problem, exit 1 if any"
    )
    v.add_argument("config", nargs="+")
    v.add_argument("--no-files", action="store_true", help="do not check that model files exist")
    v.set_defaults(func=_validate)

    for name in PLUGIN_COMMANDS:
        # One broken tool must not take `edge-app run` down with it on a kiosk.
        try:
            importlib.import_module(name).register(sub)
        except Exception as exc:  # reported, and the test of --help fails loudly
            print(
                f"edge-app: warning: commands of {name} unavailable: {type(exc).__name__}: {exc}",
                file=sys.stderr,
            )
    return p


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    install_log_redaction()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a clear line, not a traceback, for a technician
        from edge_app.config import ConfigError

        if isinstance(exc, ConfigError):
            for line in exc.lines:
                print(line, file=sys.stderr)
            return 2
        if args.verbose:
            raise
        print(f"edge-app: {type(exc).__name__}: {redact(str(exc))}", file=sys.stderr)
        return 1
