"""Replay a scenario through the live lane code, on the scenario's clock.

Replay equals live: the video goes frame by frame through the same
Perception and engine, the scanner's recorded bytes go through a real
pseudo-terminal into the real ScannerReader, POS events through the same
queue as MQTT requests. Only the clock differs: it is the scenario's, set by
this driver, and the driver waits until the reader has consumed each write,
so a replay decides exactly the same on every run.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from edge_app.config import LaneConfig
from edge_app.devices.virtual_scanner import VirtualScanner
from edge_app.events import LaneEvent, PosEvent, Tick
from edge_app.lane.app import Lane
from edge_app.lane.camera import Frame, file_frames
from edge_app.tools.scenario import Scenario


class ScenarioClock:
    """The lane's monotonic clock during a replay: whatever time the driver says."""

    def __init__(self, start: float = 0.0):
        self._t = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._t

    def set(self, t: float) -> None:
        with self._lock:
            self._t = max(self._t, t)


@dataclass
class ReplayResult:
    frames: int = 0
    scanner_bytes: int = 0
    wall_s: float = 0.0
    video_s: float = 0.0
    pending_writes: list = field(default_factory=list)
    #: why the video ended before the frames its container declares (None: it did not)
    video_problem: str | None = None


class _Driver:
    """Feeds a scenario's scanner bytes and POS events to a lane up to a time, frames in order.

    With ``scanners`` (a ``LaneScanners``) the lane is already running and stays so: sessions go
    back to back, each ``offset`` seconds later on the lane clock (``edge-app soak``).
    """

    def __init__(
        self,
        lane,
        scenario: Scenario,
        clock: ScenarioClock,
        result: ReplayResult,
        scanners: LaneScanners | None = None,
        offset: float = 0.0,
    ):
        self.lane, self.clock, self.result = lane, clock, result
        self.shared = scanners
        if scanners is None:
            scanners = LaneScanners.for_lane(lane, scenario)
        self.scanners = scanners.ptys
        self.chunks = [c.model_copy(update={"t": c.t + offset}) for c in scenario.scanner_chunks]
        pos = [dataclasses.replace(e, ts=e.ts + offset) for e in scenario.pos_events]
        self.pos = sorted(pos, key=lambda e: e.ts)
        self.written = {sid: 0 for sid in self.scanners}
        self.readers: dict = {}
        self.started: deque = deque()

    def open(self) -> None:
        lane = self.lane
        if self.shared is None:
            lane.start(
                scanner_ports={sid: vs.path for sid, vs in self.scanners.items()}, camera=False
            )
        self.readers = {r.config.id: r for r in lane.readers}
        # wait for every reader to open its pty before time starts
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(r.status != "ok" for r in self.readers.values()):
            time.sleep(0.01)
        lane.drain()

    def feed_until(self, t: float) -> None:
        while self.chunks and self.chunks[0].t <= t:
            c = self.chunks.pop(0)
            self.clock.set(c.t)
            if c.scanner not in self.readers:
                self.result.pending_writes.append(c)  # no such scanner in the lane config
                continue
            self.scanners[c.scanner].write(c.data)
            self.written[c.scanner] += len(c.data)
            self.result.scanner_bytes += len(c.data)
            self.readers[c.scanner].wait_for_bytes(self.written[c.scanner], timeout_s=5.0)
            self.lane.drain()
        while self.pos and self.pos[0].ts <= t:
            ev = self.pos.pop(0)
            self.clock.set(ev.ts)
            self.lane.submit(ev)
            self.lane.drain()

    def finish_oldest(self, on_frame: Callable[[int, float], None]) -> None:
        # Everything up to the frame's time reaches the engine before the frame,
        # exactly as in a one-frame-at-a-time loop: only the detectors run ahead.
        frame = self.started[0][0]
        self.feed_until(frame.ts)
        self.clock.set(frame.ts)
        self.lane.drain()
        self.lane.finish_frame(self.started.popleft())
        self.result.frames += 1
        on_frame(frame.index, frame.ts)

    def settle(self, t: float, end: float, stop: threading.Event) -> None:
        """Let the decision windows close after the last frame (escalations, late beeps)."""
        step = 0.1
        while t < end and not stop.is_set():
            t = min(end, t + step)
            self.feed_until(t)
            self.clock.set(t)
            self.lane.drain()
            self.lane.step(Tick(t))
        self.feed_until(float("inf"))
        self.lane.drain()

    def close(self) -> None:
        if self.shared is not None:
            return  # the lane and its scanners go on to the next session
        for r in self.lane.readers:
            r.stop()  # before the pty goes: an unplug now would mark the lane blind
        for vs in self.scanners.values():
            vs.close()


def replay(
    lane,
    scenario: Scenario,
    clock: ScenarioClock,
    *,
    realtime: bool = False,
    settle_s: float | None = None,
    on_frame: Callable[[int, float], None] = lambda i, t: None,
    stop: threading.Event | None = None,
    frames: Callable[[str], Iterable[Frame]] | None = None,
    scanners: LaneScanners | None = None,
    offset: float = 0.0,
) -> ReplayResult:
    """Run ``scenario`` through ``lane`` (a started-less ``Lane`` built with ``clock``).

    ``frames`` replaces the video reader (the benchmark times decoding with it).
    ``scanners``: the lane was started on them and runs on after this session, which
    plays ``offset`` seconds later on the lane clock.
    """
    stop = stop or threading.Event()
    result = ReplayResult()
    driver = _Driver(lane, scenario, clock, result, scanners, offset)
    driver.open()
    wall0 = time.monotonic()
    # Real time is the live loop: a frame finishes at once unless it is behind.
    depth = 1 if realtime else max(1, getattr(lane, "frames_in_flight", 1))
    try:
        t = 0.0
        video = (frames or file_frames)(str(scenario.video_path))
        for frame in _shifted(video, offset):
            if stop.is_set():
                break
            t = frame.ts
            if realtime:
                lag = t - offset - (time.monotonic() - wall0)
                if lag > 0:
                    time.sleep(lag)
            driver.started.append(lane.begin_frame(frame))
            while len(driver.started) >= depth:
                driver.finish_oldest(on_frame)
        while driver.started:
            driver.finish_oldest(on_frame)
        result.video_s = t - offset
        result.video_problem = getattr(video, "problem", None)
        cfg = lane.cfg.checkout
        window = (cfg.grace_ms + cfg.escalation_ms + cfg.match_after_ms) / 1000
        driver.settle(t, t + (settle_s if settle_s is not None else window), stop)
    finally:
        result.wall_s = time.monotonic() - wall0
        driver.close()
    return result


def _shifted(video: Iterable[Frame], offset: float) -> Iterable[Frame]:
    if not offset:
        yield from video
        return
    for f in video:
        yield dataclasses.replace(f, ts=f.ts + offset)


@dataclass
class LaneScanners:
    """Virtual scanners (ptys) for a lane that plays many sessions: open once, closed at the end."""

    ptys: dict[str, VirtualScanner]

    @classmethod
    def for_lane(cls, lane, scenario: Scenario | None = None) -> LaneScanners:
        ids = {s.id for s in lane.cfg.scanners}
        if scenario is not None:
            ids |= {c.scanner for c in scenario.scanner_chunks}
        return cls({sid: VirtualScanner() for sid in sorted(ids)})

    @property
    def ports(self) -> dict[str, str]:
        return {sid: vs.path for sid, vs in self.ptys.items()}

    def close(self) -> None:
        for vs in self.ptys.values():
            vs.close()


@dataclass
class ScenarioRun:
    """What one scenario replay gave: the lane (stopped), its events and the replay's counts."""

    scenario: Scenario
    lane: Lane
    result: ReplayResult

    @property
    def events(self) -> list[LaneEvent]:
        return self.lane.events_out


def run_scenario(
    cfg: LaneConfig,
    scenario: Scenario,
    *,
    close_transaction: bool = False,
    realtime: bool = False,
    on_frame: Callable[[int, float], None] = lambda i, t: None,
    frames: Callable[[str], Iterable[Frame]] | None = None,
    **lane_options: Any,
) -> ScenarioRun:
    """The one replay harness of demo, eval and bench: a ``Lane`` on the scenario's clock.

    ``lane_options`` go to ``Lane`` (a light, callbacks, ``config_path``);
    ``close_transaction`` ends a transaction still open after the last frame,
    as a kiosk would (the demo and the benchmark; eval scores what the lane
    decided by itself).
    """
    clock = ScenarioClock()
    lane_options.setdefault("use_watchdog", False)
    lane = Lane(cfg, clock=clock, keep_events=True, **lane_options)
    try:
        result = replay(lane, scenario, clock, realtime=realtime, on_frame=on_frame, frames=frames)
        if close_transaction and lane.engine.tx is not None:
            lane.submit(PosEvent(clock(), "transaction_end", lane.engine.tx.transaction_id))
            lane.drain()
    finally:
        lane.stop()
    return ScenarioRun(scenario, lane, result)
