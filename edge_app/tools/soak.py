"""``edge-app soak``: one lane for hours of sessions, a broker that restarts, a disk that fills.

One ``Lane`` (one outbox, one StoreLink, one engine) plays generated kiosk
sessions back to back on one lane clock, as fast as the box allows, while a
chaos thread restarts the store broker every few minutes and, where the
state directory is a small filesystem of its own, fills it for a while and
frees it again. A receiver with a persistent MQTT session (the broker keeps
its QoS 1 queue across restarts, as a store broker does) counts every event
envelope by ``seq``. The JSON report says what a lane that runs for weeks
must show: events lost (must be 0) and duplicated, RSS and its slope per
hour of session time after warm-up, open file descriptors, threads, the
outbox's depth and size, and what ``status/outbox`` / ``status/evidence``
said. Numbers of a recorded run: docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge_app.config import LaneConfig, NoLightConfig, load_config
from edge_app.devices.lights.none import NoLight
from edge_app.events import DeviceStatus, PosEvent
from edge_app.lane.app import Lane
from edge_app.lane.live import with_mqtt
from edge_app.tools.broker import Mosquitto
from edge_app.tools.replay import LaneScanners, ScenarioClock, replay
from edge_app.tools.scenario import Scenario

GAP_S = 5.0  # idle lane clock between two sessions


@dataclass(frozen=True)
class ProcessSample:
    session_s: float
    rss_mb: float
    fds: int
    threads: int  # Python threads
    native_threads: int  # every thread of the process (ONNX Runtime's pool too)
    outbox_depth: int
    outbox_bytes: int


def sample_process(session_s: float, lane: Lane, state: Path) -> ProcessSample:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    outbox_bytes = sum(p.stat().st_size for p in state.glob("outbox.db*") if p.exists())
    return ProcessSample(
        session_s=round(session_s, 1),
        rss_mb=round(int(fields["VmRSS"].split()[0]) / 1024, 1),
        fds=len(os.listdir("/proc/self/fd")),
        threads=threading.active_count(),
        native_threads=int(fields["Threads"]),
        outbox_depth=lane.link.outbox_depth(),
        outbox_bytes=outbox_bytes,
    )


def slope_per_hour(samples: list[ProcessSample], attr: str, warmup: float = 0.2) -> float | None:
    """Least-squares slope of ``attr`` per hour of session time, the first ``warmup`` left out."""
    kept = samples[int(len(samples) * warmup) :]
    if len(kept) < 3:
        return None
    hours = np.array([s.session_s / 3600 for s in kept])
    values = np.array([getattr(s, attr) for s in kept], dtype=float)
    if np.ptp(hours) == 0:
        return None
    return round(float(np.polyfit(hours, values, 1)[0]), 2)


class Receiver:
    """The store's side: a persistent MQTT session that counts envelopes by boot and seq."""

    def __init__(self, url_host: str, port: int, events_topic: str):
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion
        from paho.mqtt.packettypes import PacketTypes
        from paho.mqtt.properties import Properties

        self.seqs: Counter[tuple[str, int]] = Counter()
        self._lock = threading.Lock()
        self._topic = events_topic
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="edge-app-soak-receiver", protocol=mqtt.MQTTv5
        )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 24 * 3600  # the broker queues for us while we are away
        self.client.connect(url_host, port, clean_start=False, properties=props)
        self.client.loop_start()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe(self._topic, qos=1)

    def _on_message(self, client, userdata, msg):
        env = json.loads(msg.payload)
        with self._lock:
            self.seqs[(env["boot_id"], env["seq"])] += 1

    def received(self, boot_id: str) -> tuple[set[int], int]:
        """(distinct seqs of this boot, duplicates)."""
        with self._lock:
            mine = {seq: n for (boot, seq), n in self.seqs.items() if boot == boot_id}
        return set(mine), sum(n - 1 for n in mine.values())

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@dataclass
class Chaos:
    """Restarts the broker every ``restart_every_s`` and fills the state disk now and then."""

    broker: Mosquitto
    state: Path
    restart_every_s: float
    fill_every_s: float | None  # None: the state is not a disk of its own
    full_for_s: float = 30.0
    restarts: int = 0
    fills: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Chaos:
        self._thread = threading.Thread(target=self._run, name="soak-chaos", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        t0 = time.monotonic()
        next_restart = t0 + self.restart_every_s
        next_fill = t0 + self.fill_every_s if self.fill_every_s else float("inf")
        while not self._stop.wait(0.5):
            now = time.monotonic()
            if now >= next_restart:
                self.broker.stop()
                self._stop.wait(2.0)  # the lane sees it gone and queues
                self.broker.start()
                self.restarts += 1
                next_restart = now + self.restart_every_s
            if now >= next_fill and self.fill_every_s:
                self._fill()
                self._stop.wait(self.full_for_s)
                self._ballast.unlink(missing_ok=True)
                self.fills += 1
                next_fill = time.monotonic() + self.fill_every_s

    @property
    def _ballast(self) -> Path:
        return self.state / ".soak-ballast"

    def _fill(self) -> None:
        with contextlib.suppress(OSError), open(self._ballast, "ab") as f:
            while True:
                f.write(b"\0" * 65536)
                f.flush()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)
        self._ballast.unlink(missing_ok=True)
        if self.broker.proc is None:
            self.broker.start()


@contextlib.contextmanager
def state_disk(work: Path, size_mb: int | None) -> Iterator[tuple[Path, bool]]:
    """The lane's state directory: a tmpfs of ``size_mb`` when asked and allowed, else a folder."""
    state = work / "state"
    state.mkdir(parents=True, exist_ok=True)
    if not size_mb:
        yield state, False
        return
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(state)]
    done = subprocess.run(mount, capture_output=True, text=True)
    if done.returncode != 0:
        print(
            f"soak: no small disk ({done.stderr.strip()}): the disk does not fill", file=sys.stderr
        )
        yield state, False
        return
    try:
        yield state, True
    finally:
        subprocess.run(["umount", "-l", str(state)], capture_output=True)


def sessions_in(folder: Path) -> list[Scenario]:
    found = sorted(p.parent for p in folder.glob("*/scenario.yaml"))
    if not found:
        raise SystemExit(f"soak: no scenario folders in {folder}")
    return [Scenario(p) for p in found]


def _end_session(lane: Lane, clock: ScenarioClock) -> None:
    if lane.engine.tx is not None:  # the kiosk closes what the shopper left open
        lane.submit(PosEvent(clock(), "transaction_end", lane.engine.tx.transaction_id))
    lane.drain()
    clock.set(clock() + GAP_S)
    lane.periodic()


def _wait_delivered(lane: Lane, receiver: Receiver, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    produced = lane.link.last_seq
    while time.monotonic() < deadline:
        got, _ = receiver.received(lane.boot_id)
        if len(got) >= produced and lane.link.outbox_depth() == 0:
            return
        time.sleep(0.5)


@dataclass
class SoakRun:
    lane: Lane
    clock: ScenarioClock
    state: Path
    samples: list[ProcessSample] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    video_s: float = 0.0
    sessions: int = 0

    def on_status(self, s: DeviceStatus) -> None:
        if s.status != "ok":  # counted by kind: ids and numbers left out
            kind = re.sub(r"\S*\d\S*", "#", s.detail)[:80]
            self.statuses[f"{s.component}: {s.status}: {kind}"] += 1


def play(run: SoakRun, scenarios: list[Scenario], target_s: float, scanners: LaneScanners) -> None:
    for scenario in itertools.cycle(scenarios):
        if run.clock() >= target_s:
            return
        result = replay(run.lane, scenario, run.clock, scanners=scanners, offset=run.clock())
        _end_session(run.lane, run.clock)
        run.video_s += result.video_s
        run.sessions += 1
        run.samples.append(sample_process(run.clock(), run.lane, run.state))


def soak(
    cfg: LaneConfig,
    scenarios: list[Scenario],
    work: Path,
    *,
    session_hours: float,
    restart_every_s: float,
    disk_mb: int | None,
    fill_every_s: float,
) -> dict:
    wall0 = time.monotonic()
    broker = Mosquitto(work / "broker", persistence=True).start()
    with state_disk(work, disk_mb) as (state, small):
        cfg = with_mqtt(cfg.model_copy(update={"state_dir": str(state)}), broker.url, None)
        if small and disk_mb:  # clips may take half the small disk; the outbox shares the rest
            cfg = cfg.with_overrides({"evidence.quota_mb": max(1, disk_mb // 2)})
        clock = ScenarioClock()
        lane = Lane(cfg, clock=clock, light=NoLight(NoLightConfig()), use_watchdog=False)
        run = SoakRun(lane, clock, state)
        lane.on_status = run.on_status
        receiver = Receiver(broker.host, broker.port, lane.link.topics.events)
        scanners = LaneScanners.for_lane(lane)
        lane.start(scanner_ports=scanners.ports, camera=False)
        chaos = Chaos(broker, state, restart_every_s, fill_every_s if small else None).start()
        try:
            play(run, scenarios, session_hours * 3600, scanners)
        finally:
            chaos.stop()
            _wait_delivered(lane, receiver, timeout_s=180)
            report = _report(run, receiver, chaos, small, time.monotonic() - wall0)
            receiver.stop()
            lane.stop()
            scanners.close()
            broker.stop()
    return report


def _report(run: SoakRun, receiver: Receiver, chaos: Chaos, small: bool, wall_s: float) -> dict:
    lane = run.lane
    produced = lane.link.last_seq
    got, duplicates = receiver.received(lane.boot_id)
    missing = sorted(set(range(1, produced + 1)) - got)
    first, last = run.samples[0], run.samples[-1]
    return {
        "session_s": round(run.clock(), 1),
        "video_s": round(run.video_s, 1),
        "sessions": run.sessions,
        "wall_s": round(wall_s, 1),
        "events": {
            "produced": produced,
            "received": len(got),
            "lost": len(missing),
            "lost_seqs": missing[:20],
            "duplicates": duplicates,
            **lane.link.outbox_counters,
        },
        "broker_restarts": chaos.restarts,
        "disk_fills": chaos.fills if small else "no small disk (needs root and --disk-mb)",
        "statuses_seen": dict(run.statuses),
        "rss_mb": {
            "first": first.rss_mb,
            "last": last.rss_mb,
            "max": max(s.rss_mb for s in run.samples),
        },
        "rss_mb_per_hour": slope_per_hour(run.samples, "rss_mb"),
        "fds": {"first": first.fds, "last": last.fds, "max": max(s.fds for s in run.samples)},
        "threads": {
            "first": first.threads,
            "last": last.threads,
            "max": max(s.threads for s in run.samples),
        },
        "native_threads": {"first": first.native_threads, "last": last.native_threads},
        "outbox": {
            "depth_max": max(s.outbox_depth for s in run.samples),
            "bytes_max": max(s.outbox_bytes for s in run.samples),
            "depth_end": lane.link.outbox_depth(),
        },
        "samples": [s.__dict__ for s in run.samples],
    }


def main(args: argparse.Namespace) -> int:
    work = Path(args.work or tempfile.mkdtemp(prefix="edge-app-soak-"))
    sessions = Path(args.sessions) if args.sessions else work / "sessions"
    if not args.sessions and not (sessions / "lane.yaml").exists():
        from edge_app.sim.generate import generate

        generate(sessions, args.seed, args.count)
    scenarios = sessions_in(sessions)
    cfg = load_config(args.config or scenarios[0].lane_config_path)
    report = soak(
        cfg,
        scenarios,
        work,
        session_hours=args.session_hours,
        restart_every_s=args.restart_every_s,
        disk_mb=args.disk_mb,
        fill_every_s=args.fill_every_s,
    )
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    summary = {k: v for k, v in report.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    return 0 if report["events"]["lost"] == 0 else 1


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "soak",
        help="hours of sessions on one lane with broker restarts and a full disk; JSON report",
        description="Long run: events lost (must be 0), RSS slope, fds, threads, outbox. "
        "See docs/BENCHMARKS.md.",
    )
    p.add_argument("--session-hours", type=float, default=2.0, help="lane-clock hours to play")
    p.add_argument("--sessions", help="folder of scenario folders (default: generate --count)")
    p.add_argument("--config", help="lane YAML (default: the sessions' lane.yaml)")
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--count", type=int, default=8, help="sessions to generate (played in turn)")
    p.add_argument("--restart-every-s", type=float, default=180.0, help="broker restart period")
    p.add_argument(
        "--disk-mb", type=int, help="state on a tmpfs of this size (root), filled now and then"
    )
    p.add_argument("--fill-every-s", type=float, default=300.0, help="how often the disk fills")
    p.add_argument("--work", help="working folder (default: a temporary one)")
    p.add_argument("--json", metavar="OUT", help="also write the full report (with samples)")
    p.set_defaults(func=main)
