"""`edge-app sim generate | dataset | import | sheet`: scenarios and training sets.

    edge-app sim generate --out /tmp/scenes --seed 7 --count 5 [--difficulty easy|normal|hard]
    edge-app sim generate --suite --out tests/scenarios/suite        # the standard CI suite
    edge-app sim dataset --out /tmp/lane-ds --seed 1 --images 2400
    edge-app sim import --video V --serial CAPTURE --truth TRUTH.yaml --lane LANE.yaml --out DIR
    edge-app sim sheet --out /tmp/sheet.png /tmp/scenes/normal-7-000 ...

The formats are in docs/SCENARIOS.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

#: the standard suite (tests/scenarios/suite): name -> (seed, difficulty, journeys).
#: Every label at least once.
SUITE = {
    "suite-scanned": (11, "easy", ["no_barcode_item", "scanned"]),
    "suite-pass-over": (12, "normal", ["scanned", "missed_scan.pass_over"]),
    "suite-bypass": (13, "normal", ["missed_scan.bypass", "scanned"]),
    "suite-multi-item": (14, "normal", ["multi_item", "scanned"]),
    "suite-mismatch": (15, "normal", ["mismatch", "scanned"]),
    "suite-scan-without-item": (16, "hard", ["scanned", "scan_without_item"]),
}
SUITE_SIZE, SUITE_FPS, SUITE_NOISE = (320, 240), 15.0, 0.8


def _size(text: str) -> tuple[int, int]:
    w, h = text.lower().split("x")
    return int(w), int(h)


def write_suite(out: Path, model: Path | None = None) -> list[Path]:
    """Regenerate the standard suite from its seeds (small: 320x240, 15 fps, low noise)."""
    import yaml

    from edge_app.sim.generate import lane_config_for

    out.mkdir(parents=True, exist_ok=True)
    (out / "lane.yaml").write_text(
        "# Written by `edge-app sim generate --suite`: the demo lane with the grocery catalogue"
        " and the lane-view model.\n" + yaml.safe_dump(lane_config_for(out, model), sort_keys=False)
    )
    return [write_suite_scenario(out, name) for name in SUITE]


def write_suite_scenario(out: Path, name: str) -> Path:
    """One scenario of the suite, ``out/<name>/``, from its seed (its lane file: ``out/lane.yaml``)."""
    import dataclasses

    from edge_app.sim.generate import write_session
    from edge_app.sim.kiosk import plan_kiosk_session

    seed, difficulty, labels = SUITE[name]
    s = plan_kiosk_session(seed, len(labels), difficulty, labels=labels)
    assert s.look is not None  # a kiosk session always has its look
    look = dataclasses.replace(s.look, noise=min(s.look.noise, SUITE_NOISE))  # noise costs bytes
    return write_session(out, name, s, seed=seed, fps=SUITE_FPS, size=SUITE_SIZE, look=look)


def _generate(args) -> int:
    from edge_app.sim.generate import generate

    model = Path(args.model) if args.model else None
    if args.suite:
        folders = write_suite(Path(args.out), model)
    else:
        folders = generate(
            Path(args.out),
            args.seed,
            args.count,
            args.difficulty,
            items=args.items,
            size=_size(args.size),
            fps=args.fps,
            model=model,
        )
    for f in folders:
        print(f)
    print(
        f"{len(folders)} scenario(s); replay one with: "
        f"edge-app run --config {Path(args.out) / 'lane.yaml'} --replay {folders[0]}"
    )
    return 0


def _dataset(args) -> int:
    from edge_app.sim.dataset import write_dataset

    data = write_dataset(
        Path(args.out),
        args.seed,
        args.images,
        args.val_fraction,
        _size(args.size),
        args.classic_fraction,
        args.stack_fraction,
    )
    print(data)
    return 0


def _import(args) -> int:
    from edge_app.sim.importer import ImportError_, import_recording

    try:
        sc = import_recording(
            args.video,
            args.serial,
            args.truth,
            args.lane,
            args.out,
            serial_format=args.serial_format,
            start=args.start,
            scanner=args.scanner,
            interval=args.interval,
            pos=args.pos,
            name=args.name,
        )
    except (ImportError_, FileNotFoundError) as exc:
        print(f"edge-app sim import: {exc}", file=sys.stderr)
        return 2
    print(
        f"{sc.folder}: {sc.meta.duration_s:.1f} s of video at {sc.meta.fps:g} fps, "
        f"{len(sc.scanner_chunks)} scanner chunk(s), "
        f"{len(sc.pos_events)} POS event(s), {len(sc.truth.journeys)} journey(s)"
    )
    print(f"replay it with: edge-app run --config {args.lane} --replay {sc.folder}")
    return 0


def register(subparsers) -> None:
    sim = subparsers.add_parser(
        "sim", help="synthetic scenarios, training sets, recording import (docs/SCENARIOS.md)"
    )
    sub = sim.add_subparsers(dest="sim_command", metavar="SIM_COMMAND", required=True)

    g = sub.add_parser(
        "generate", help="render kiosk-camera checkout scenarios (video + scanner + POS + truth)"
    )
    g.add_argument("--out", required=True, help="folder for the scenarios and their lane.yaml")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--count", type=int, default=3, help="number of scenarios")
    g.add_argument("--difficulty", choices=("easy", "normal", "hard"), default="normal")
    g.add_argument("--items", type=int, default=4, help="journeys per transaction")
    g.add_argument("--size", default="480x360", help="frame size WxH")
    g.add_argument("--fps", type=float, default=15.0)
    g.add_argument(
        "--model",
        help="products model for the written lane.yaml (default: "
        "models/lane-products-hands-320.onnx)",
    )
    g.add_argument(
        "--suite",
        action="store_true",
        help="write the standard CI suite (fixed seeds; ignores seed/count/...)",
    )
    g.set_defaults(func=_generate)

    d = sub.add_parser(
        "dataset", help="write a YOLO detection training set (products + hand) from the renderer"
    )
    d.add_argument("--out", required=True)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--images", type=int, default=1000)
    d.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="share of images in the val split (1.0: a validation-only set)",
    )
    d.add_argument("--size", default="320x240")
    d.add_argument(
        "--classic-fraction",
        type=float,
        default=0.15,
        help="share of frames in the classic demo look",
    )
    d.add_argument(
        "--stack-fraction",
        type=float,
        default=0.0,
        help="share of frames with two items stacked in one hand (multi_item)",
    )
    d.set_defaults(func=_dataset)

    i = sub.add_parser(
        "import", help="convert a real recording (video + serial capture + truth) into a scenario"
    )
    i.add_argument("--video", required=True)
    i.add_argument(
        "--serial",
        required=True,
        help="capture: scanner.jsonl rows, '<seconds> <hex> [scanner]' lines, or a raw byte dump",
    )
    i.add_argument("--serial-format", choices=("auto", "jsonl", "log", "raw"), default="auto")
    i.add_argument("--truth", required=True, help="hand-written truth.yaml (journeys: …)")
    i.add_argument("--lane", required=True, help="the lane YAML the recording was made on")
    i.add_argument("--out", required=True)
    i.add_argument(
        "--start",
        type=float,
        default=0.0,
        help="capture time of the first video frame (subtracted); raw: time of the first read",
    )
    i.add_argument(
        "--interval",
        type=float,
        default=2.0,
        help="raw dumps: seconds between reads that have no t_scan in the truth",
    )
    i.add_argument(
        "--scanner", help="scanner id for rows without one (default: the lane's first scanner)"
    )
    i.add_argument("--pos", help="kiosk events, pos.jsonl format, same clock as the capture")
    i.add_argument("--name")
    i.set_defaults(func=_import)
    _register_sheet(sub)


def contact_sheet(
    folders: list[Path], out: Path, per_scenario: int = 4, width: int = 320, posterize: int = 0
) -> Path:
    """A grid of frames (one row per scenario, at its journeys' key moments) written as a PNG.

    ``posterize`` drops that many low bits per channel (camera noise makes big PNGs).
    """
    import cv2
    import numpy as np

    from edge_app.lane.camera import file_frames
    from edge_app.tools.scenario import Scenario

    rows = []
    for folder in folders:
        sc = Scenario(folder)
        moments = []
        for j in sc.truth.journeys:
            for t in (j.t_over_scan, j.t_land and j.t_land - 0.4, j.t_leave_pick):
                if t is not None and t not in moments:
                    moments.append(t)
        moments = sorted(moments)[:: max(1, len(moments) // per_scenario)][:per_scenario]
        want = {int(round(t * sc.meta.fps)) for t in moments}
        tiles = []
        for fr in file_frames(str(sc.video_path)):
            if fr.index in want:
                img = cv2.resize(
                    fr.image,
                    (width, int(width * fr.image.shape[0] / fr.image.shape[1])),
                    interpolation=cv2.INTER_AREA,
                )
                cv2.putText(
                    img,
                    f"{sc.meta.name} t={fr.ts:.1f}s",
                    (4, img.shape[0] - 6),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.35,
                    (255, 255, 255),
                    1,
                    cv2.LINE_AA,
                )
                tiles.append(img)
        while len(tiles) < per_scenario:
            tiles.append(np.zeros_like(tiles[0]))
        rows.append(np.hstack(tiles[:per_scenario]))
    sheet = np.vstack(rows)
    if posterize:
        sheet = (sheet >> posterize) << posterize
    cv2.imwrite(str(out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return out


def _sheet(args) -> int:
    print(
        contact_sheet(
            [Path(f) for f in args.scenarios],
            Path(args.out),
            args.per_scenario,
            args.width,
            args.posterize,
        )
    )
    return 0


def _register_sheet(sub) -> None:
    s = sub.add_parser(
        "sheet", help="contact sheet PNG of scenario frames (to look at what the generator draws)"
    )
    s.add_argument("scenarios", nargs="+", help="scenario folders")
    s.add_argument("--out", required=True, help="PNG to write")
    s.add_argument("--per-scenario", type=int, default=4)
    s.add_argument("--width", type=int, default=320, help="tile width in px")
    s.add_argument(
        "--posterize", type=int, default=0, help="drop N low bits per channel (smaller PNG)"
    )
    s.set_defaults(func=_sheet)
