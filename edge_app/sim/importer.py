"""Convert a real recording (video + serial capture + hand-written truth) into a scenario folder.

``edge-app sim import --video V --serial CAPTURE --truth TRUTH.yaml --lane LANE.yaml --out DIR``

The serial capture may be (``--serial-format auto`` tells them apart):

``jsonl``  our own ``scanner.jsonl`` rows ``{"t": s, "scanner": id, "hex": "…"}``
           (``scanner`` optional; ``ts`` is accepted for ``t``).
``log``    one read chunk per line: ``<seconds> <hex> [<scanner id>]``; blank
           lines and ``#`` comments are skipped. ``<seconds>`` is on any clock:
           ``--start`` says which capture time is the video's first frame
           (e.g. a UNIX time), and is subtracted.
``raw``    the bytes the scanner sent, no times (``cat /dev/ttyACM0 > dump``).
           It is split into reads after each CR/LF; read *k* is placed at the
           *k*-th ``t_scan`` of the truth file (in time order) or, when the
           truth has fewer, at ``--start + k * --interval`` seconds.

The video is copied (its container kept), the scanner bytes are kept raw, so a
replay exercises the real framing code; POS events come from ``--pos``
(``pos.jsonl`` format, times on the same clock as the capture). The folder is
loaded back through ``Scenario`` before the command returns, so a bad input
fails here, with its file and line.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import cv2
import yaml

from edge_app.tools.scenario import ScannerChunk, Scenario, ScenarioMeta, Truth, write_scenario

_HEX = re.compile(r"^(?:[0-9a-fA-F]{2})+$")


class ImportError_(ValueError):
    """A recording that cannot be converted (file:line: reason)."""


def sniff_format(path: Path) -> str:
    data = path.read_bytes()[:4096]
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        return "raw"
    lines = [
        ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
    ]
    if not lines:
        return "raw"
    if lines[0].startswith("{"):
        return "jsonl"
    parts = lines[0].split()
    try:
        float(parts[0])
        if len(parts) >= 2 and _HEX.match(parts[1]):
            return "log"
    except ValueError:
        pass
    return "raw"


def read_capture(
    path: Path,
    fmt: str = "auto",
    scanner: str = "flatbed",
    start: float = 0.0,
    scan_times: tuple[float, ...] = (),
    interval: float = 2.0,
) -> list[ScannerChunk]:
    """The capture as scanner chunks, times in seconds from the first video frame."""
    path = Path(path)
    fmt = sniff_format(path) if fmt == "auto" else fmt
    chunks: list[ScannerChunk] = []
    if fmt == "jsonl":
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                t = float(row["t"] if "t" in row else row["ts"])
                chunks.append(
                    ScannerChunk(
                        t=round(t - start, 6),
                        scanner=row.get("scanner", scanner),
                        hex=_check_hex(row["hex"]),
                    )
                )
            except (json.JSONDecodeError, KeyError, ValueError, TypeError) as exc:
                raise ImportError_(
                    f"{path}:{n}: not a capture row ({type(exc).__name__}: {exc})"
                ) from None
    elif fmt == "log":
        for n, line in enumerate(path.read_text().splitlines(), 1):
            body = line.split("#", 1)[0].strip()
            if not body:
                continue
            parts = body.split()
            try:
                t = float(parts[0])
                chunks.append(
                    ScannerChunk(
                        t=round(t - start, 6),
                        scanner=parts[2] if len(parts) > 2 else scanner,
                        hex=_check_hex(parts[1]),
                    )
                )
            except (IndexError, ValueError) as exc:
                raise ImportError_(
                    f"{path}:{n}: expected '<seconds> <hex> [<scanner>]' ({exc})"
                ) from None
    elif fmt == "raw":
        data = path.read_bytes()
        reads = [
            m.group(0)
            for m in re.finditer(rb"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", data)
            if m.group(0).strip(b"\r\n")
        ]
        times = sorted(scan_times)
        for k, read in enumerate(reads):
            t = times[k] if k < len(times) else start + k * interval
            chunks.append(ScannerChunk(t=round(t, 6), scanner=scanner, hex=read.hex()))
    else:
        raise ImportError_(f"unknown serial format {fmt!r} (auto, jsonl, log, raw)")
    bad = [c for c in chunks if c.t < 0]
    if bad:
        raise ImportError_(
            f"{path}: {len(bad)} chunk(s) before the first video frame (t={bad[0].t}); is --start "
            "right?"
        )
    return sorted(chunks, key=lambda c: c.t)


def _check_hex(text: str) -> str:
    text = str(text).strip()
    if not _HEX.match(text):
        raise ValueError(f"not hex bytes: {text[:40]!r}")
    return text.lower()


def probe_video(path: Path) -> tuple[float, int, int, float]:
    """fps, width, height, duration (s) as OpenCV reads them (frames counted, not trusted from the header)."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise ImportError_(f"{path}: OpenCV cannot open this video")
    fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    if fps <= 0 or n == 0:
        raise ImportError_(f"{path}: no frames or no frame rate")
    return fps, w, h, n / fps


def import_recording(
    video: Path,
    serial: Path,
    truth: Path,
    lane: Path,
    out: Path,
    *,
    serial_format: str = "auto",
    start: float = 0.0,
    scanner: str | None = None,
    interval: float = 2.0,
    pos: Path | None = None,
    name: str | None = None,
    epoch: float | None = None,
) -> Scenario:
    """Write the scenario folder ``out`` and return it loaded."""
    from edge_app.config import load_config

    video, serial, truth, lane, out = map(Path, (video, serial, truth, lane, out))
    cfg = load_config(lane)
    ids = [s.id for s in cfg.scanners]
    scanner = scanner or (ids[0] if ids else "flatbed")
    try:
        truth_model = Truth.model_validate(yaml.safe_load(truth.read_text()))
    except Exception as exc:
        raise ImportError_(f"{truth}: not a truth file: {exc}") from None
    scan_times = tuple(j.t_scan for j in truth_model.journeys if j.t_scan is not None)
    chunks = read_capture(serial, serial_format, scanner, start, scan_times, interval)
    unknown = sorted({c.scanner for c in chunks} - set(ids))
    if unknown:
        raise ImportError_(f"{serial}: scanner id(s) {unknown} are not in {lane} (scanners: {ids})")
    fps, width, height, duration = probe_video(video)
    pos_rows = []
    if pos is not None:
        for n, line in enumerate(Path(pos).read_text().splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                    row["t"] = round(float(row["t"]) - start, 6)
                except (json.JSONDecodeError, KeyError, ValueError) as exc:
                    raise ImportError_(f"{pos}:{n}: not a POS row ({exc})") from None
                pos_rows.append(row)
    out.mkdir(parents=True, exist_ok=True)
    target = out / ("video" + (video.suffix or ".mp4"))
    if video.resolve() != target.resolve():
        shutil.copyfile(video, target)
    meta = ScenarioMeta(
        name=name or out.resolve().name,
        fps=fps,
        width=width,
        height=height,
        duration_s=round(duration, 3),
        lane_config=os.path.relpath(lane.resolve(), out.resolve()),
        video=target.name,
        source="recording",
        **({"epoch": epoch} if epoch is not None else ({"epoch": start} if start > 1e9 else {})),
    )
    write_scenario(out, meta, truth_model, chunks, pos_rows)
    return Scenario(out)
