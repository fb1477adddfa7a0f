"""`edge-app run --config`: the lane on its real camera and scanners, and its console view."""

from __future__ import annotations

import signal
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

from edge_app.config import LaneConfig, load_config
from edge_app.events import DeviceStatus, LaneEvent


def with_mqtt(cfg: LaneConfig, url: str | None, state_dir: str | None) -> LaneConfig:
    """The config with --mqtt-url and the state folder applied (overrides win)."""
    update: dict = {}
    if url:
        update["mqtt"] = {**(cfg.mqtt.model_dump() if cfg.mqtt else {}), "url": url}
    if state_dir:
        update["state_dir"] = state_dir
    return cfg.with_overrides(update) if update else cfg


class ConsoleView:
    """What the console shows as a lane runs: one line per thing a person cares about."""

    def __init__(self, out: TextIO, t0: float = 0.0):
        self.out = out
        self.t0 = t0  # live lanes show seconds since start, not since boot
        self.lock = threading.Lock()

    def line(self, text: str) -> None:
        with self.lock:
            print(text, file=self.out, flush=True)

    def lane_event(self, e: LaneEvent) -> None:
        d = e.data
        t = f"[{e.ts - self.t0:6.2f}s]"
        if e.type == "scan.registered":
            self.line(f"{t} SCAN      {d['gtin']} ({d['symbology']}) on {d['scanner_id']}")
        elif e.type == "journey.matched":
            where = "over the scanner" if d["over_scanner"] else "around the scanner"
            self.line(
                f"{t} OK        {d['label']} #{d['track_id']} bagged, matched to {d['gtin']} "
                f"({where})"
            )
        elif e.type == "journey.pending":
            self.line(
                f"{t} NUDGE     {d['alert_type']}: {d['label']} #{d['track_id']} in the bag, no "
                "scan yet "
                f"- kiosk: 'please scan that item'"
            )
        elif e.type == "alert.raised":
            self.line(
                f"{t} ALERT     {d['alert_type']}: {d['label']} #{d['track_id']} (alert "
                f"{d['alert_id']}) "
                f"- staff review, evidence clip being written"
            )
        elif e.type == "alert.self_corrected":
            self.line(f"{t} FIXED     {d['alert_type']} on #{d['track_id']}: {d['detail']}")
        elif e.type == "alert.cleared":
            self.line(f"{t} CLEARED   {d['alert_id']} ({d['resolution']})")
        elif e.type.startswith("transaction."):
            self.line(f"{t} {e.type.split('.', 1)[1].upper():9s} transaction {e.transaction_id}")

    def status(self, s: DeviceStatus) -> None:
        self.line(f"[{s.ts - self.t0:6.2f}s] STATUS    {s.component}: {s.status} {s.detail}")


def run_live(
    config_path: Path,
    mqtt_url: str | None = None,
    out: TextIO | None = None,
    state_dir: str | None = None,
) -> int:
    """`edge-app run --config`: the lane on its real camera and scanners until SIGTERM."""
    from edge_app.lane.app import Lane

    printer = ConsoleView(out or sys.stdout, t0=time.monotonic())
    cfg = with_mqtt(load_config(config_path), mqtt_url, state_dir)
    lane = Lane(
        cfg, on_lane_event=printer.lane_event, on_status=printer.status, config_path=config_path
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: stop.set())
    signal.signal(signal.SIGINT, lambda *a: stop.set())
    lane.start()
    printer.line(f"edge-app: lane {cfg.store_id}/{cfg.lane_id} running (boot {lane.boot_id})")
    try:
        lane.run(stop)
    finally:
        lane.stop()
    return 0
