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
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

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
        self.meta = ScenarioMeta.model_validate(yaml.safe_load(meta_path.read_text()))
        self.truth = Truth.model_validate(yaml.safe_load((self.folder / "truth.yaml").read_text()))
        self.scanner_chunks = [
            ScannerChunk.model_validate(r) for r in _jsonl(self.folder / "scanner.jsonl")
        ]
        self.pos_events = [PosEvent(ts=r.pop("t"), **r) for r in _jsonl(self.folder / "pos.jsonl")]
        self.scanner_chunks.sort(key=lambda c: c.t)

    @property
    def video_path(self) -> Path:
        return self.folder / self.meta.video

    @property
    def lane_config_path(self) -> Path:
        return (self.folder / self.meta.lane_config).resolve()


def _jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc.msg}") from None
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
