"""Lane: wiring and lifecycle of one self-checkout lane (the imperative shell).

Frigate-style: ``init_*`` builds objects, ``start_*`` launches threads, and
one consumer (``drain`` + ``process_frame``) feeds the pure CheckoutEngine
from a single queue, so decisions never race. ``begin_frame`` /
``finish_frame`` split a frame so the next frame's detector can run while
this one is tracked and decided (``models.parallel_frames``); frames finish
in order, so the engine sees the same sequence either way. Scanner readers, the MQTT
network thread and the camera thread only ever ``submit``: only the lane thread
touches the engine, and it publishes a ``LaneSnapshot`` after each step for the
others to read. A light test is an inbox item too, played by the lane thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge_app import __version__
from edge_app.checkout.engine import CheckoutEngine
from edge_app.checkout.state import LaneView
from edge_app.config import LaneConfig, NoLightConfig, ScannerConfig, config_hash, load_config
from edge_app.devices.lights.base import ReviewLight
from edge_app.devices.lights.none import NoLight
from edge_app.devices.lights.policy import lane_light, light_test_state
from edge_app.devices.lights.registry import make_light
from edge_app.devices.serial_reader import ScannerReader
from edge_app.events import (
    ComponentState,
    DeviceStatus,
    EngineInput,
    LaneEvent,
    LaneStatePayload,
    LightState,
    Tick,
)
from edge_app.lane.camera import Frame, FrameSource
from edge_app.lane.evidence import EvidenceRecorder
from edge_app.lane.health import SystemStats, Watchdog
from edge_app.lane.instance import StateLock
from edge_app.lane.snapshot import LaneSnapshot, SnapshotAsked, SnapshotClips
from edge_app.lane.timings import FrameTimings, StageClock
from edge_app.perception.pipeline import FrameWork, Perception
from edge_app.redact import redact
from edge_app.store_link.client import StoreLink
from edge_app.store_link.commands import EngineRequest, Request
from edge_app.store_link.gate import GatedHandler
from edge_app.store_link.outbox import Outbox

if TYPE_CHECKING:
    from edge_app.devices.button import StaffButton

log = logging.getLogger(__name__)

#: how often the light state is re-sent even if unchanged (a replugged tower light learns it)
LIGHT_RESEND_S = 5.0
STATS_EVERY_S = 10.0
EVIDENCE_SWEEP_S = 600.0  # clips past their retention go within this long

#: stands in for a stage clock when nobody asked for frame timings
_UNTIMED = contextlib.nullcontext()


@dataclass(frozen=True)
class LightTestAsked:
    """``request/light/test`` arrived: an inbox item, so the lane thread plays the pattern."""

    ts: float


class Lane:
    """One lane process. ``Lane(cfg).start(); lane.run(stop)`` is ``edge-app run``.

    ``on_frame_timed``, when given, gets a ``FrameTimings`` after every finished
    frame (a benchmark's hook; without it the lane reads no extra clock).
    """

    def __init__(
        self,
        cfg: LaneConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        light: ReviewLight[Any] | None = None,
        on_lane_event: Callable[[LaneEvent], None] = lambda e: None,
        on_status: Callable[[DeviceStatus], None] = lambda s: None,
        on_frame_timed: Callable[[FrameTimings], None] | None = None,
        config_path: Path | None = None,
        perception: Perception | None = None,
        use_watchdog: bool = True,
        keep_events: bool = False,
        pin_factory=None,
    ):
        self.cfg = cfg
        self.config_path = config_path
        self.clock = clock
        self.wall_clock = wall_clock
        self.boot_id = uuid.uuid4().hex[:12]
        self.inbox: queue.Queue[EngineInput | LightTestAsked | SnapshotAsked] = queue.Queue()
        self.on_lane_event = on_lane_event
        self.on_status = on_status
        self.on_frame_timed = on_frame_timed
        self._stages = StageClock() if on_frame_timed is not None else None
        self.statuses: dict[str, DeviceStatus] = {}
        self.readers: list[ScannerReader] = []
        self.camera: FrameSource | None = None
        self.button: StaffButton | None = None
        self._light_sent: tuple[LightState, float] | None = None
        #: when the running light test started (lane clock; None: no test) and what it shows
        self._light_test_since: float | None = None
        self._light_test_shown: LightState | None = None
        self._last_stats = 0.0
        self._last_sweep = -EVIDENCE_SWEEP_S
        self.system = SystemStats()
        self._mode_published: tuple | None = None
        #: every LaneEvent of this run, for replays and evaluation (a live lane keeps none)
        self.events_out: list[LaneEvent] = []
        self.keep_events = keep_events
        self.pin_factory = pin_factory  # gpiozero factory for the button (tests: MockFactory)
        self.running = False
        self.init_engine()
        self.init_light(light)
        self.init_outbox()
        self.init_store_link()
        self.init_evidence()
        self.perception = perception or Perception(cfg)
        self.watchdog = Watchdog(clock=clock) if use_watchdog else None
        self.init_requests()
        self._publish_snapshot()
        self.set_status(
            DeviceStatus(self.clock(), "model", "ok", self.perception.detector.spec.name)
        )

    # ------------------------------------------------------------ init_*

    def init_requests(self) -> None:
        #: requests that are not engine inputs: command name -> handler (on paho's thread)
        self.request_handlers: dict[str, Callable[[Request], dict]] = {
            "config/reload": self._reload_config,
            "snapshot": self._answer_snapshot,
            "light/test": self._ask_light_test,
        }
        #: every request passes here first: once per request_id, within its command's rate
        self.requests = GatedHandler(self._execute_request, self.clock)

    def init_engine(self) -> None:
        checkout = self.cfg.checkout
        if checkout.scan_without_item and self.cfg.models.hands.backend == "none":
            # "no item or hand over the glass" cannot be claimed by a lane that sees no hands
            log.info("scan_without_item is off: this lane has no hands backend")
            checkout = checkout.model_copy(update={"scan_without_item": False})
        self.engine = CheckoutEngine(checkout, self.cfg.catalog, id_prefix=f"{self.cfg.lane_id}-")

    def init_light(self, light: ReviewLight[Any] | None) -> None:
        # Drivers take what they need: the MQTT mirror publishes through the store link.
        if light is not None:
            self.light = light
            return
        try:
            self.light = make_light(
                self.cfg.light,
                publish=self._publish_light_mirror,
                clock=self.clock,
                on_status=lambda ok, detail: self.submit_status(
                    DeviceStatus(self.clock(), "light", "ok" if ok else "down", detail)
                ),
            )
        except Exception as exc:  # no GPIO, no tower on USB: the lane still decides and reports
            log.error("review light %r cannot start: %s", self.cfg.light.type, exc)
            self.light = NoLight(NoLightConfig())
            detail = f"{self.cfg.light.type} light cannot start: {type(exc).__name__}: {exc}"
            self.submit_status(DeviceStatus(self.clock(), "light", "down", detail))

    def init_outbox(self) -> None:
        # one process per lane: refuse before the outbox (or anything else) is touched
        self.state_lock = StateLock.acquire(self.cfg.state_path("lane.lock"))
        path = self.cfg.state_path(self.cfg.outbox.path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox(path, self.cfg.outbox.max_events)

    def init_store_link(self) -> None:
        self.link = StoreLink(
            self.cfg.mqtt,
            self.cfg.store_id,
            self.cfg.lane_id,
            self.outbox,
            self.boot_id,
            wall_clock=self.wall_clock,
            on_command=self.on_command,
            on_outbox_status=self._on_outbox_status,
        )

    def init_evidence(self) -> None:
        ev = self.cfg.evidence
        self.evidence = None
        if ev.enabled:
            self.evidence = EvidenceRecorder(
                self.cfg.state_path(ev.dir),
                ev,
                on_status=lambda state, detail: self.submit_status(
                    DeviceStatus(self.clock(), "evidence", state, detail)
                ),
            )
        self.snapshot_clips = SnapshotClips(ev.post_s)

    # ----------------------------------------------------------- start_*

    def start(self, scanner_ports: dict[str, str] | None = None, camera: bool = True) -> Lane:
        self.running = True
        self.link.start()
        self.start_scanners(scanner_ports or {})
        self.start_button()
        if camera:
            self.start_camera()
        self._update_light(force=True)
        self._publish_state()
        if self.watchdog:
            self.watchdog.register("engine", max_age_s=10.0)
            if camera:
                self.watchdog.register(
                    "frames", max_age_s=max(5.0, self.cfg.camera.stall_timeout_ms / 1000 * 2)
                )
            for r in self.readers:
                self.watchdog.register(r.component, max_age_s=5.0)
            self.watchdog.start()
            self.watchdog.ready()
        return self

    def start_scanners(self, ports: dict[str, str]) -> None:
        for sc in self.cfg.scanners:
            if sc.id in ports:
                sc = ScannerConfig(**{**sc.model_dump(), "port": ports[sc.id]})
            beat = (
                functools.partial(self.watchdog.beat, f"scanner/{sc.id}") if self.watchdog else None
            )
            reader = ScannerReader(
                sc, self.clock, self.submit, self.submit_status, on_heartbeat=beat
            )
            reader.start()
            self.readers.append(reader)

    def start_button(self) -> None:
        b = self.cfg.button
        self.button = None
        if b is None:
            return
        from edge_app.devices.button import StaffButton

        try:
            self.button = StaffButton(
                b.pin,
                self.submit,
                clock=self.clock,
                pull_up=b.pull_up,
                short_press=b.short_press,
                long_press=b.long_press,
                long_press_ms=b.long_press_ms,
                pin_factory=self.pin_factory,
            )
            self.set_status(DeviceStatus(self.clock(), "button", "ok", f"pin {b.pin}"))
        except Exception as exc:  # no GPIO on this box: reported, the lane runs on
            self.set_status(DeviceStatus(self.clock(), "button", "degraded", str(exc)))

    def start_camera(self) -> None:
        self.camera = FrameSource(
            self.cfg.camera, self.clock, self.submit_status, resolve=self.cfg.resolve
        ).start()

    # ------------------------------------------------------------ inputs

    def submit(self, item: EngineInput) -> None:
        """Thread-safe way in for scanners, the kiosk and staff."""
        self.inbox.put(item)

    def submit_status(self, status: DeviceStatus) -> None:
        self.inbox.put(status)

    def on_command(self, name: str, request: Request) -> dict | None:
        """MQTT requests, already validated by store_link.commands (paho's thread).

        The gate first (store_link.gate): a repeated ``request_id`` gets its first
        answer again and runs nothing; a command over its rate is refused.
        """
        return self.requests(name, request)

    def _execute_request(self, name: str, request: Request) -> dict:
        """An engine input is stamped with the lane clock as it arrives and queued
        for the lane thread; the other requests go to ``request_handlers``."""
        now = self.clock()
        if isinstance(request, EngineRequest):
            self.submit(request.to_input(now))
            return {"queued": True}
        return self.request_handlers[name](request)

    def _reload_config(self, request: Request) -> dict:
        if self.config_path is None:
            raise ValueError("this lane was not started from a config file")
        new = load_config(self.config_path)  # ConfigError -> error response, nothing changes
        return {
            "config_hash": config_hash(new),
            "applied": False,
            "detail": "valid; restart the service to apply",
        }

    def _answer_snapshot(self, request: Request) -> dict:
        """Keep an evidence clip now (cut by the lane thread); answer from the published view."""
        if self.evidence is None:
            raise ValueError("evidence.enabled is false on this lane: no clip can be kept")
        now = self.clock()
        clip = self.snapshot_clips.ask(now, self.wall_clock())
        if clip.new:
            self.inbox.put(SnapshotAsked(now, clip.clip_id))
        reason = getattr(request, "reason", "")
        log.info("snapshot clip %s asked, reason: %r", clip.clip_id, reason)
        return self.snapshot.to_reply(clip, now, reason)  # no engine read here

    def _ask_light_test(self, request: Request) -> dict:
        self.inbox.put(LightTestAsked(self.clock()))
        return {"queued": True}

    # --------------------------------------------------------- consumer

    def drain(self) -> None:
        """Feed everything queued to the engine, in arrival order."""
        while True:
            try:
                item = self.inbox.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, LightTestAsked):
                self._start_light_test()
                continue
            if isinstance(item, SnapshotAsked):
                if self.evidence is not None:
                    self.evidence.trigger(item.clip_id, item.ts)
                continue
            if isinstance(item, DeviceStatus):
                self.set_status(item)
            self.step(item)

    @property
    def frames_in_flight(self) -> int:
        """How many frames ``begin_frame`` may run ahead of ``finish_frame``.

        One more than the detector workers: a worker finishing a frame finds the
        next one queued instead of waiting for the lane thread to decode it.
        """
        p = self.perception.parallel
        return p + 1 if p > 1 else 1

    def begin_frame(self, frame: Frame) -> tuple[Frame, FrameWork]:
        """Gate and start the detector on ``frame`` (it may run on a worker thread)."""
        with self._timed("frame"), self._timed("perception"):
            return frame, self.perception.submit(frame.image, frame.ts)

    def process_frame(self, frame: Frame) -> None:
        self.finish_frame(self.begin_frame(frame))

    def finish_frame(self, started: tuple[Frame, FrameWork]) -> None:
        """Track, decide and record a frame from ``begin_frame``; call in the same order."""
        frame, work = started
        with self._timed("frame"):
            with self._timed("perception"):
                events = self.perception.complete(work)
            if self.evidence is not None:
                with self._timed("evidence"):
                    self.evidence.person_boxes = (
                        self.perception.last_people.tolist()
                    )  # heads to blur
                    self.evidence.add(frame)
            for ev in events:
                self.step(ev)
            self.step(Tick(frame.ts))
            if self.watchdog:
                self.watchdog.beat("frames")
        if self._stages is not None and self.on_frame_timed is not None:
            self.on_frame_timed(self._stages.take(frame.ts))

    def step(self, item: EngineInput) -> None:
        for ev in self.engine.step(item):
            self._publish(ev)
        view = self.engine.view  # once a step: light, retained state and snapshot share it
        self._update_light(view=view)
        self._publish_state(view)
        self._publish_snapshot(view)
        if self.watchdog:
            self.watchdog.beat("engine")

    def run(self, stop: threading.Event) -> None:
        """The live loop: newest frame, queued inputs, ticks, stats. Never dies on input."""
        self.loop_errors = 0
        started: deque = deque()
        while not stop.is_set():
            try:
                self.drain()
                # With frames in flight, look for a newer frame without waiting.
                frame = self.camera.latest(timeout=0.0 if started else 0.2) if self.camera else None
                if frame is not None:
                    started.append(self.begin_frame(frame))
                if started and (frame is None or len(started) >= self.frames_in_flight):
                    self.finish_frame(started.popleft())
                elif frame is None:
                    self.step(Tick(self.clock()))
                # A dead camera is reported on status/camera and retried; only a
                # stalled reader thread or loop should make systemd restart us.
                if self.watchdog and self.camera is not None and self.camera.alive:
                    self.watchdog.beat("frames")
                self.periodic()
            except Exception:  # a bad frame or a bug in one stage must not take the lane down
                started.clear()  # a frame that failed is dropped, not retried forever
                self.loop_errors += 1
                log.exception("lane loop error #%d", self.loop_errors)
                time.sleep(0.05)

    def periodic(self) -> None:
        """The lane thread's timed work: the light test, re-sending the light, the outbox, stats."""
        now = self.clock()
        self._play_light_test()
        self.link.maintain()  # a disk that refused the outbox is retried, its status refreshed
        if self._light_sent and now - self._light_sent[1] >= LIGHT_RESEND_S:
            self._update_light(force=True)
        if now - self._last_stats >= STATS_EVERY_S:
            self._last_stats = now
            self.link.publish_stats(self.stats())
        if self.evidence is not None and now - self._last_sweep >= EVIDENCE_SWEEP_S:
            self._last_sweep = now
            self.evidence.sweep(self.wall_clock())

    def stats(self) -> dict:
        p = self.perception
        now = self.clock()
        last = getattr(self, "_fps_mark", None)
        fps = None
        if last is not None and now > last[0]:
            fps = round((p.stats.frames - last[1]) / (now - last[0]), 2)
        self._fps_mark = (now, p.stats.frames)
        return {
            "fps": fps,
            "frames": p.stats.frames,
            "stage_ms": {k: round(v, 2) for k, v in p.stats.times.last.items()},
            "outbox_depth": self.link.outbox_depth(),
            "scanners": {r.config.id: r.stats for r in self.readers},
            "camera_dropped": self.camera.frames_dropped if self.camera else 0,
            "evidence": self.evidence.counts() if self.evidence is not None else None,
            "requests": {
                "total": self.link.commands_total,
                "refused_total": self.link.commands_rejected_total,
                **self.requests.stats(),
            },
            "uptime_s": round(self.clock(), 1),
            **self.system.sample(),
        }

    def _timed(self, stage: str) -> AbstractContextManager[None]:
        """Time a stage for ``on_frame_timed``; a no-op without the hook."""
        return self._stages.stage(stage) if self._stages is not None else _UNTIMED

    # ---------------------------------------------------------- outputs

    def set_status(self, status: DeviceStatus) -> None:
        # a detail may quote a URL with its password (a camera, a broker): never publish it
        status = dataclasses.replace(status, detail=redact(status.detail))
        prev = self.statuses.get(status.component)
        self.statuses[status.component] = status
        if prev is None or prev.status != status.status or prev.detail != status.detail:
            with self._timed("publish"):
                self.link.publish_status(status.component, status.status, status.detail)
            self.on_status(status)
            self._publish_snapshot()

    def _publish(self, ev: LaneEvent) -> None:
        if self.keep_events:
            self.events_out.append(ev)
        with self._timed("publish"):
            self.link.publish_event(ev)
        if self.evidence is not None and ev.type == "alert.raised":
            self.evidence.trigger(ev.data.get("alert_id", ""), ev.ts)
        self.on_lane_event(ev)

    def _publish_snapshot(self, view: LaneView | None = None) -> None:
        """Replace the view other threads read (one assignment: they see the old or the new)."""
        view = view if view is not None else self.engine.view
        self.snapshot = LaneSnapshot(
            mode=view.mode,
            transaction_id=view.transaction_id,
            open_alerts=view.open_alerts,
            pending=view.pending,
            statuses=tuple((k, v.status) for k, v in self.statuses.items()),
            frames=self.perception.stats.frames,
        )

    def _healthy(self) -> bool:
        return not any(s.status == "down" for s in self.statuses.values())

    def _update_light(self, force: bool = False, view: LaneView | None = None) -> None:
        state = lane_light(
            view if view is not None else self.engine.view,
            self.engine.open_alerts(),
            running=self.running,
            healthy=self._healthy(),
        )
        if force or self._light_sent is None or self._light_sent[0] != state:
            try:
                if self._light_test_since is None:  # a light test owns the lamps until it ends
                    self.light.show(state)
                with self._timed("publish"):
                    self.link.publish_raw("light", state.value, retain=True)
            except Exception as exc:  # a broken light is reported, never fatal
                self.set_status(DeviceStatus(self.clock(), "light", "down", str(exc)))
            self._light_sent = (state, self.clock())

    def _publish_light_mirror(self, topic: str, payload: bytes | str, retain: bool) -> None:
        with self._timed("publish"):
            self.link.publish_raw(topic, payload, retain)

    def _publish_state(self, view: LaneView | None = None) -> None:
        view = view if view is not None else self.engine.view
        key = (view.mode, view.transaction_id, view.open_alerts, view.unverified, self._light_sent)
        if key == self._mode_published:
            return
        self._mode_published = key
        with self._timed("publish"):
            self.link.publish_state(
                LaneStatePayload(
                    mode=view.mode.value,
                    light=self._light_sent[0].value if self._light_sent else LightState.OFF.value,
                    transaction_id=view.transaction_id,
                    open_alerts=view.open_alerts,
                    unverified=view.unverified,
                    boot_id=self.boot_id,
                    version=__version__,
                    config_hash=config_hash(self.cfg),
                )
            )

    def _on_outbox_status(self, status: ComponentState, detail: str) -> None:
        # The store link combines the broker and the disk (full, read-only) for status/outbox.
        self.submit_status(DeviceStatus(self.clock(), "outbox", status, detail))

    # -------------------------------------------------------- light test

    def _start_light_test(self) -> None:
        """Begin the test pattern, unless one is playing (a second request joins it)."""
        if self._light_test_since is None:
            self._light_test_since = self.clock()
            self._light_test_shown = None
            self._play_light_test()

    def _play_light_test(self) -> None:
        """Show the pattern's lamp for now (lane thread, from the periodic work); never waits."""
        if self._light_test_since is None:
            return
        state = light_test_state(self.clock() - self._light_test_since)
        if state is None:  # over: the lane's own light comes back
            self._light_test_since = None
            self._update_light(force=True)
        elif state != self._light_test_shown:
            self._light_test_shown = state
            try:
                self.light.show(state)
            except Exception as exc:  # a broken light is reported, never fatal
                self.set_status(DeviceStatus(self.clock(), "light", "down", str(exc)))

    # ------------------------------------------------------------- stop

    def stop(self) -> None:
        self.running = False
        for r in self.readers:
            r.stop()
        if self.button is not None:
            self.button.close()
        if self.camera:
            self.camera.stop()
        self.perception.close()
        self.drain()
        if self.evidence is not None:
            self.evidence.close()
        if self.watchdog:
            self.watchdog.stop()
        try:
            self.light.close()
        finally:
            self.link.stop()
            self.outbox.close()
            self.state_lock.release()
