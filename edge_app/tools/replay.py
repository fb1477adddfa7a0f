"""Replay a scenario through the live lane code, on the scenario's clock.

Replay equals live: the video goes frame by frame through the same
Perception and engine, the scanner's recorded bytes go through a real
pseudo-terminal into the real ScannerReader, POS events through the same
queue as MQTT requests. Only the clock differs: it is the scenario's, set by
this driver, and the driver waits until the reader has consumed each write,
so a replay decides exactly the same on every run.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from edge_app.devices.virtual_scanner import VirtualScanner
from edge_app.events import Tick
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
) -> ReplayResult:
    """Run ``scenario`` through ``lane`` (a started-less ``Lane`` built with ``clock``).

    ``frames`` replaces the video reader (the benchmark times decoding with it).
    """
    stop = stop or threading.Event()
    result = ReplayResult()
    scanners: dict[str, VirtualScanner] = {}
    ids = {c.scanner for c in scenario.scanner_chunks} | {s.id for s in lane.cfg.scanners}
    for sid in sorted(ids):
        scanners[sid] = VirtualScanner()
    lane.start(scanner_ports={sid: vs.path for sid, vs in scanners.items()}, camera=False)
    readers = {r.config.id: r for r in lane.readers}
    # wait for every reader to open its pty before time starts
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(r.status != "ok" for r in readers.values()):
        time.sleep(0.01)
    lane.drain()

    written = {sid: 0 for sid in scanners}
    chunks = list(scenario.scanner_chunks)
    pos = sorted(scenario.pos_events, key=lambda e: e.ts)
    wall0 = time.monotonic()

    def feed_until(t: float) -> None:
        while chunks and chunks[0].t <= t:
            c = chunks.pop(0)
            clock.set(c.t)
            data = c.data
            if c.scanner not in readers:
                result.pending_writes.append(c)  # no such scanner in the lane config
                continue
            scanners[c.scanner].write(data)
            written[c.scanner] += len(data)
            result.scanner_bytes += len(data)
            readers[c.scanner].wait_for_bytes(written[c.scanner], timeout_s=5.0)
            lane.drain()
        while pos and pos[0].ts <= t:
            ev = pos.pop(0)
            clock.set(ev.ts)
            lane.submit(ev)
            lane.drain()

    started: deque = deque()
    # Real time is the live loop: a frame finishes at once unless it is behind.
    depth = 1 if realtime else max(1, getattr(lane, "frames_in_flight", 1))

    def finish_oldest() -> None:
        # Everything up to the frame's time reaches the engine before the frame,
        # exactly as in a one-frame-at-a-time loop: only the detectors run ahead.
        frame = started[0][0]
        feed_until(frame.ts)
        clock.set(frame.ts)
        lane.drain()
        lane.finish_frame(started.popleft())
        result.frames += 1
        on_frame(frame.index, frame.ts)

    try:
        t = 0.0
        for frame in (frames or file_frames)(str(scenario.video_path)):
            if stop.is_set():
                break
            t = frame.ts
            if realtime:
                lag = t - (time.monotonic() - wall0)
                if lag > 0:
                    time.sleep(lag)
            started.append(lane.begin_frame(frame))
            while len(started) >= depth:
                finish_oldest()
        while started:
            finish_oldest()
        result.video_s = t
        # Let the decision windows close after the last frame (escalations, late beeps).
        cfg = lane.cfg.checkout
        end = t + (
            settle_s
            if settle_s is not None
            else (cfg.grace_ms + cfg.escalation_ms + cfg.match_after_ms) / 1000
        )
        step = 0.1
        while t < end and not stop.is_set():
            t = min(end, t + step)
            feed_until(t)
            clock.set(t)
            lane.drain()
            lane.step(Tick(t))
        feed_until(float("inf"))
        lane.drain()
    finally:
        result.wall_s = time.monotonic() - wall0
        for r in lane.readers:
            r.stop()  # before the pty goes: an unplug now would mark the lane blind
        for vs in scanners.values():
            vs.close()
    return result
