"""Camera sources: USB/V4L2, RTSP, GStreamer, file — newest frame only, monotonic stamps.

The reader thread keeps just the latest frame (a slow model must see *now*,
not a queue of the past), stamps it with the lane's monotonic clock, and
reports ``camera`` down when frames stop, reconnecting with backoff.
Replay does not use the thread: ``file_frames`` yields every frame of a
recording stamped with its own timeline, so evaluation is exact.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from edge_app.config import CameraConfig
from edge_app.events import DeviceStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Frame:
    image: np.ndarray  # BGR
    ts: float  # lane clock, seconds
    index: int


def source_kind(cfg: CameraConfig) -> str:
    """Guess how to open a source from its form when kind is 'auto'."""
    if cfg.kind != "auto":
        return cfg.kind
    s = cfg.source.strip()
    if re.fullmatch(r"\d+", s) or s.startswith("/dev/video"):
        return "usb"
    if re.match(r"^(rtsp|rtsps|rtmp|http|https)://", s):
        return "rtsp"
    if "!" in s and "appsink" in s:
        return "gstreamer"
    return "file"


def open_capture(cfg: CameraConfig, resolve: Callable[[str], object] = str) -> cv2.VideoCapture:
    kind = source_kind(cfg)
    s = cfg.source.strip()
    if kind == "usb":
        index_or_path = int(s) if s.isdigit() else s
        cap = cv2.VideoCapture(index_or_path, cv2.CAP_V4L2)
    elif kind == "rtsp":
        cap = cv2.VideoCapture(s, cv2.CAP_FFMPEG)
    elif kind == "gstreamer":
        cap = cv2.VideoCapture(s, cv2.CAP_GSTREAMER)
    else:
        cap = cv2.VideoCapture(str(resolve(s)))
    if cap.isOpened():
        if cfg.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
        if cfg.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
        if cfg.fps and kind == "usb":
            cap.set(cv2.CAP_PROP_FPS, cfg.fps)
        if kind in ("usb", "rtsp"):
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
    return cap


def short_read(read: int, declared: int) -> str | None:
    """Why a file source that stopped after ``read`` frames ended early (None: it did not).

    OpenCV's ``read()`` says False at the end of a file and on a broken one
    alike; the container's declared frame count tells them apart. A container
    that declares none (0) cannot be judged.

    >>> short_read(19, 40)
    'ended after 19 of the 40 frames its container declares (truncated or damaged)'
    >>> short_read(40, 40), short_read(12, 0)
    (None, None)
    """
    if 0 <= read < declared:
        return f"ended after {read} of the {declared} frames its container declares (truncated or damaged)"
    return None


def declared_frames(cap: cv2.VideoCapture) -> int:
    """The frame count a file's container declares (0: none, or not a file)."""
    try:
        return max(0, int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0))
    except (TypeError, ValueError, OverflowError):  # NaN or junk from an odd backend
        return 0


class FileFrames:
    """Every frame of a recording, stamped index / fps (the scenario's clock).

    An iterator (``next()`` works). Once it is used up, ``problem`` says whether
    the file ended before the frames its container declares: a video truncated
    mid-file must not replay half its frames without a word (also logged).
    """

    def __init__(self, path: str) -> None:
        self.path = str(path)
        self.read = 0
        self.declared = 0
        self.problem: str | None = None
        self._frames = self._generate()

    def __iter__(self) -> FileFrames:
        return self

    def __next__(self) -> Frame:
        return next(self._frames)

    def _generate(self) -> Iterator[Frame]:
        cap = cv2.VideoCapture(self.path)
        if not cap.isOpened():
            raise OSError(f"cannot open video {self.path}")
        fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
        self.declared = declared_frames(cap)
        try:
            while True:
                ok, img = cap.read()
                if not ok:
                    break
                yield Frame(img, self.read / fps, self.read)
                self.read += 1
        finally:
            cap.release()
        self.problem = short_read(self.read, self.declared)
        if self.problem:
            log.warning("video %s %s", self.path, self.problem)


def file_frames(path: str) -> FileFrames:
    """Every frame of a recording; see ``FileFrames`` (``problem`` once it is used up)."""
    return FileFrames(path)


def backoff_delays(initial_s: float, max_s: float) -> Iterator[float]:
    """1x, 2x, 4x … the initial delay, capped: a dead camera is retried forever.

    >>> import itertools; list(itertools.islice(backoff_delays(0.5, 3), 5))
    [0.5, 1.0, 2.0, 3, 3]
    """
    d = initial_s
    while True:
        yield min(d, max_s)
        d *= 2


class FrameSource:
    """A live camera on its own thread; ``latest()`` hands over the newest frame."""

    def __init__(
        self,
        cfg: CameraConfig,
        clock: Callable[[], float] = time.monotonic,
        on_status: Callable[[DeviceStatus], None] = lambda s: None,
        resolve: Callable[[str], object] = str,
        open_fn: Callable[[CameraConfig], cv2.VideoCapture] | None = None,
    ):
        self.cfg = cfg
        self.clock = clock
        self.on_status = on_status
        self.resolve = resolve
        self._open = open_fn or (lambda c: open_capture(c, resolve))
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._taken = -1
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="camera", daemon=True)
        self.status = "unknown"  # the first open reports ok or down
        self.frames_read = 0
        self.frames_dropped = 0
        self.reconnects = 0
        self._short_logged: str | None = None

    def start(self) -> FrameSource:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._thread.join(timeout=5)

    @property
    def alive(self) -> bool:
        """The reader thread runs (reading, or waiting to reconnect a dead camera)."""
        return self._thread.is_alive()

    def latest(self, timeout: float = 1.0) -> Frame | None:
        """The newest frame not handed out yet, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not self._stop.is_set():
                if self._frame is not None and self._frame.index != self._taken:
                    if self._taken >= 0:
                        self.frames_dropped += max(0, self._frame.index - self._taken - 1)
                    self._taken = self._frame.index
                    return self._frame
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        return None

    def _set_status(self, status: str, detail: str) -> None:
        if status != self.status:
            self.status = status
            self.on_status(DeviceStatus(self.clock(), "camera", status, detail))  # type: ignore[arg-type]

    def _end_detail(self, read: int, declared: int) -> str:
        """The ``camera`` status when a file source ends: plain, or what it lacked."""
        problem = short_read(read, declared)
        if problem is None:
            return "end of file"
        if problem != self._short_logged:  # once, not on every replay of the same file
            self._short_logged = problem
            log.warning("camera file %s %s", self.cfg.source, problem)
        return f"end of file {self.cfg.source}: {problem}"

    def _run(self) -> None:
        delays = backoff_delays(
            self.cfg.reconnect_initial_ms / 1000, self.cfg.reconnect_max_ms / 1000
        )
        index = 0
        is_file = source_kind(self.cfg) == "file"
        while not self._stop.is_set():
            try:
                cap = self._open(self.cfg)
            except Exception as exc:  # a driver crash is a dead camera, not a dead lane
                log.warning("camera open failed: %s", exc)
                cap = None
            if cap is None or not cap.isOpened():
                self._set_status("down", f"cannot open {self.cfg.source}")
                self._stop.wait(next(delays))
                continue
            fps = cap.get(cv2.CAP_PROP_FPS) or 15.0
            declared = declared_frames(cap) if is_file else 0
            read = 0
            last_ok = time.monotonic()
            while not self._stop.is_set():
                ok, img = cap.read()
                if not ok:
                    if is_file or time.monotonic() - last_ok > self.cfg.stall_timeout_ms / 1000:
                        break
                    time.sleep(0.01)
                    continue
                last_ok = time.monotonic()
                self._set_status("ok", f"{img.shape[1]}x{img.shape[0]}")
                delays = backoff_delays(
                    self.cfg.reconnect_initial_ms / 1000, self.cfg.reconnect_max_ms / 1000
                )
                with self._cond:
                    self._frame = Frame(img, self.clock(), index)
                    self._cond.notify_all()
                index += 1
                read += 1
                self.frames_read += 1
                if is_file:
                    time.sleep(1.0 / fps)  # a file stands in for a live camera: real time
            cap.release()
            if self._stop.is_set():
                break
            self.reconnects += 1
            self._set_status(
                "down", self._end_detail(read, declared) if is_file else "frames stopped"
            )
            self._stop.wait(next(delays))
