"""The recorded-session format: one folder per checkout session.

```
scenario.yaml   what it is: name, fps, frame size, lane config, epoch, source
video.mp4       the camera (any container OpenCV reads)
scanner.jsonl   {"t": s, "scanner": id, "hex": raw bytes}  one line per read chunk
pos.jsonl       {"t": s, "kind": transaction_start|…, …}   the kiosk's events
truth.yaml      every journey: product, gtin, times, label (ground truth)
```
Times are seconds from the first video frame. The scanner file keeps the raw
bytes so replay exercises the real framing code, and a real store's
recording (video + serial capture + hand-written truth) converts into it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge_app.events import PosEvent

TRUTH_LABELS = (
    "scanned",
    "missed_scan.pass_over",
    "missed_scan.bypass",
    "multi_item",
    "mismatch",
    "scan_without_item",
    "no_barcode_item",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")


class ScenarioMeta(_Strict):
    name: str
    fps: float = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    duration_s: float = Field(gt=0)
    lane_config: str = Field(description="Lane YAML, relative to the scenario folder")
    video: str = "video.mp4"
    seed: int | None = None
    source: str = Field("synthetic", description="synthetic | recording")
    epoch: float = Field(1_764_633_600.0, description="Wall-clock time of t=0 (UNIX seconds)")


class TruthJourney(_Strict):
    product: str
    gtin: str = ""
    label: Literal[TRUTH_LABELS]  # type: ignore[valid-type]
    t_leave_pick: float | None = None
    t_over_scan: float | None = None
    t_land: float | None = None
    t_scan: float | None = None
    quantity: int = 1
    scanned_gtin: str | None = Field(
        None, description="mismatch: the code the scanner read (another product's)"
    )


class Truth(_Strict):
    journeys: list[TruthJourney]

    def expected_alerts(self) -> list[TruthJourney]:
        return [j for j in self.journeys if j.label not in ("scanned", "no_barcode_item")]


class ScannerChunk(_Strict):
    t: float
    scanner: str
    hex: str

    @property
    def data(self) -> bytes:
        return bytes.fromhex(self.hex)


class Scenario:
    """A loaded scenario folder."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        meta_path = self.folder / "scenario.yaml"
        if not meta_path.is_file():
            raise FileNotFoundError(f"{self.folder}: not a scenario folder (no scenario.yaml)")
        self.meta = _load(ScenarioMeta, meta_path)
        self.truth = _load(Truth, self.folder / "truth.yaml")
        scanner = self.folder / "scanner.jsonl"
        self.scanner_chunks = [
            _row(ScannerChunk.model_validate, scanner, n, r) for n, r in _jsonl(scanner)
        ]
        pos = self.folder / "pos.jsonl"
        self.pos_events = [_row(_pos_event, pos, n, r) for n, r in _jsonl(pos)]
        self.scanner_chunks.sort(key=lambda c: c.t)

    @property
    def video_path(self) -> Path:
        return self.folder / self.meta.video

    @property
    def lane_config_path(self) -> Path:
        return (self.folder / self.meta.lane_config).resolve()


class ScenarioError(ValueError):
    """A scenario file that cannot be read; the message starts with ``file[:line]:``."""


def _load(model: type[_M], path: Path) -> _M:
    """A YAML file of the folder, validated, every problem naming the file."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ScenarioError(f"{path}: cannot read it: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: empty, or not a mapping of keys")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(top)"
        raise ScenarioError(f"{path}: {where}: {first['msg']}") from None


def _pos_event(row: dict) -> PosEvent:
    row = dict(row)
    if "t" not in row:
        raise ValueError("no time 't'")
    return PosEvent(ts=row.pop("t"), **row)  # an unknown field: TypeError, named by _row


def _row(parse: Callable[[dict], _T], path: Path, n: int, row: object) -> _T:
    """One JSON line parsed, a bad one named by file and line."""
    if not isinstance(row, dict):
        raise ScenarioError(f"{path}:{n}: expected a JSON object")
    try:
        return parse(row)
    except (ValueError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
        raise ScenarioError(f"{path}:{n}: {exc}") from None


def _jsonl(path: Path) -> list[tuple[int, object]]:
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise ScenarioError(f"{path}:{n}: not JSON: {exc.msg}") from None
    return rows


def write_scenario(
    folder: Path,
    meta: ScenarioMeta,
    truth: Truth,
    scanner_chunks: list[ScannerChunk],
    pos_events: list[dict],
) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "scenario.yaml").write_text(yaml.safe_dump(meta.model_dump(), sort_keys=False))
    (folder / "truth.yaml").write_text(
        yaml.safe_dump(truth.model_dump(exclude_none=True), sort_keys=False)
    )
    (folder / "scanner.jsonl").write_text(
        "".join(json.dumps(c.model_dump()) + "\n" for c in scanner_chunks)
    )
    (folder / "pos.jsonl").write_text("".join(json.dumps(e) + "\n" for e in pos_events))
