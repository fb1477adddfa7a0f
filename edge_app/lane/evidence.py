"""Evidence clips: a few seconds before and after each alert, faces blurred, disk-bounded.

Frames are kept in a ring buffer, as they came while ``pre_s`` seconds of
them fit in ``raw_ring_mb`` (640x480 at 10 fps: 32 MB), else
JPEG-encoded (a 640x480 frame is ~30 kB instead of 900 kB raw). Raw is the
default because almost every frame leaves the ring unwatched: encoding each
one cost the lane thread more than anything but decoding the video, and
only a clip's frames need encoding, once, by the writer. An alert starts a
writer thread that takes the ring, then each frame for ``post_s`` seconds as
it comes, and blurs and writes an MJPG clip and a thumbnail (the frame of
the alert); the frames leave memory as they are written. ``clip_shelf.py``
decides which clips stay (``quota_mb``, ``retention_days``) and checks that a
clip really landed: a full disk is reported through ``on_status`` (the lane's
``status/evidence``) with its cause, never as a kept clip.

Privacy: the writer blurs, in every frame of a clip, each face a real face
detector finds (``evidence.faces``: MediaPipe BlazeFace as ONNX by default,
``perception/faces.py``; the box grown by ``face_margin``), every ``privacy``
polygon (by default the top quarter of the frame, where a shopper's head
appears in the kiosk view) and the top third of every ``person`` box the
lane's detector reports. The detector runs only here, on the ~50 frames of
a clip, never on the lane thread. A detector that cannot load or fails
blurs the default band on top of the polygons and says so on
``status/evidence`` (degraded) for as long as the lane runs. The counter,
where the evidence is, stays sharp.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edge_app.config import DEFAULT_PRIVACY, EvidenceConfig
from edge_app.events import ComponentState
from edge_app.lane.camera import Frame
from edge_app.lane.clip_shelf import ClipShelf
from edge_app.perception.faces import FaceDetector, grow, make_face_detector

log = logging.getLogger(__name__)

Polygons = Sequence[Sequence[tuple[float, float]]]


def privacy_mask(
    shape: tuple[int, ...], polygons: Polygons, boxes: Sequence[Sequence[float]] = ()
) -> np.ndarray:
    """255 where a frame of ``shape`` is blurred: the normalised polygons and the pixel boxes."""
    h, w = shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for poly in polygons:
        pts = np.array([[x * w, y * h] for x, y in poly], np.int32)
        cv2.fillPoly(mask, [pts], 255)
    for x0, y0, x1, y1 in boxes:
        cv2.rectangle(mask, (int(x0), int(y0)), (int(x1), int(y1)), 255, -1)
    return mask


def blur_regions(
    image: np.ndarray,
    polygons: Polygons = (DEFAULT_PRIVACY,),
    person_boxes: Sequence[Sequence[float]] = (),
    kernel: int = 41,
    face_boxes: Sequence[Sequence[float]] | np.ndarray = (),
) -> np.ndarray:
    """A copy of ``image`` with the privacy regions blurred beyond recognition.

    The regions: the normalised ``polygons``, the top third (the head) of each
    person box, and each face box (pixels, already grown by its margin).

    >>> img = np.zeros((40, 40, 3), np.uint8); img[::2] = 255
    >>> out = blur_regions(img, polygons=[((0, 0), (1, 0), (1, 0.5), (0, 0.5))])
    >>> bool(out[:20].std() < img[:20].std() / 4), bool((out[30:] == img[30:]).all())
    (True, True)
    """
    h, w = image.shape[:2]
    heads = [(x0, y0, x1, y0 + (y1 - y0) / 3) for x0, y0, x1, y1 in person_boxes]
    mask = privacy_mask(image.shape, polygons, [*heads, *(tuple(b[:4]) for b in face_boxes)])
    if not mask.any():
        return image.copy()
    k = max(3, kernel | 1)
    blurred = cv2.GaussianBlur(cv2.resize(image, (max(1, w // 8), max(1, h // 8))), (0, 0), 2)
    blurred = cv2.GaussianBlur(
        cv2.resize(blurred, (w, h), interpolation=cv2.INTER_LINEAR), (k, k), 0
    )
    out = image.copy()
    out[mask > 0] = blurred[mask > 0]
    return out


class PrivacyBlur:
    """What a clip's frame loses before it is written: faces, privacy polygons, heads.

    Built once per recorder; ``apply`` runs in the writer threads (ONNX
    Runtime sessions may run from several threads at once). ``problem`` says
    why faces fell back to the default band, or None.
    """

    def __init__(self, cfg: EvidenceConfig, model_path: Path | None = None):
        self.polygons: list = [tuple(map(tuple, p)) for p in cfg.privacy]
        self.margin = cfg.face_margin
        self.problem: str | None = None
        self.detector: FaceDetector | None = None
        try:
            self.detector = make_face_detector(cfg.faces, model_path)
        except Exception as exc:  # a missing or broken model must not stop the lane
            self._fall_back(f"face detector {cfg.faces} unavailable: {exc}")

    def _fall_back(self, why: str) -> None:
        log.error("%s; blurring the privacy band instead", why)
        self.detector = None
        self.problem = why

    def apply(self, image: np.ndarray, person_boxes: Sequence[Sequence[float]] = ()) -> np.ndarray:
        h, w = image.shape[:2]
        faces: np.ndarray = np.zeros((0, 4), np.float32)
        detector = self.detector
        if detector is not None:
            try:
                faces = grow(detector.detect(image), self.margin, w, h)
            except Exception as exc:
                self._fall_back(f"face detector {detector.name} failed: {exc}")
        polygons = self.polygons if self.problem is None else [*self.polygons, DEFAULT_PRIVACY]
        return blur_regions(image, polygons, person_boxes, face_boxes=faces)


_END = None  # a clip's last frame has been queued


@dataclass
class _Clip:
    alert_id: str
    alert_ts: float
    until_ts: float
    frames: queue.Queue = field(default_factory=queue.Queue)

    @property
    def stem(self) -> str:
        return "".join(c if c.isalnum() or c in "-_" else "_" for c in self.alert_id)


class EvidenceRecorder:
    """Ring of recent frames; an alert streams ring + ``post_s`` to a writer thread.

    The writer takes each frame as it is queued, so a raw frame leaves memory
    once it is in the clip and a clip costs no more than the ring itself.
    """

    def __init__(
        self,
        folder: Path,
        cfg: EvidenceConfig,
        fps_hint: float | None = None,
        *,
        on_status: Callable[[ComponentState, str], None] = lambda state, detail: None,
        face_model: Path | None = None,
    ):
        self.folder = Path(folder)
        self.cfg = cfg
        self.fps_hint = fps_hint or cfg.fps
        self.shelf = ClipShelf(self.folder, cfg.quota_mb * 1024 * 1024, cfg.retention_days)
        self.on_status = on_status  # called from writer threads
        self._ring: collections.deque = collections.deque()
        self._open: list[_Clip] = []
        self._lock = threading.Lock()
        self._writers: list[threading.Thread] = []
        self.person_boxes: list = []
        self._last_ts: float | None = None
        self.clips_written = 0
        self.clips_failed = 0
        self.privacy = PrivacyBlur(cfg, face_model) if cfg.blur_faces else None
        if self.privacy is not None and self.privacy.problem:
            on_status("degraded", self._privacy_note())

    def _privacy_note(self) -> str:
        problem = self.privacy.problem if self.privacy is not None else None
        if problem is None:
            return f"clips in {self.folder}"
        return f"clips in {self.folder}; faces not detected ({problem}): blurring the privacy band"

    @property
    def clips_deleted(self) -> int:
        return self.shelf.clips_deleted

    def counts(self) -> dict[str, int]:
        """For the lane's ``stats``: nothing leaves the folder uncounted."""
        return {
            "clips_written": self.clips_written,
            "clips_failed": self.clips_failed,
            "clips_deleted": self.shelf.clips_deleted,
            "clips_expired": self.shelf.clips_expired,
        }

    def add(self, frame: Frame) -> None:
        # A clip for a person to watch needs ~10 fps, not the camera's 30: keep only those.
        if self._last_ts is not None and frame.ts - self._last_ts < 1.0 / self.cfg.fps - 1e-6:
            return
        self._last_ts = frame.ts
        # frames are never drawn on or reused after the lane has them, so the ring may hold them as
        # they are
        kept = frame.image.nbytes * (self.cfg.pre_s + 0.5) * self.cfg.fps
        if kept <= self.cfg.raw_ring_mb * 1024 * 1024:
            picture = frame.image
        else:
            ok, picture = cv2.imencode(".jpg", frame.image, [cv2.IMWRITE_JPEG_QUALITY, 80])
            if not ok:
                return
        item = (frame.ts, picture, tuple(map(tuple, self.person_boxes)))
        with self._lock:
            self._ring.append(item)
            while self._ring and frame.ts - self._ring[0][0] > self.cfg.pre_s:
                self._ring.popleft()
            for clip in list(self._open):
                clip.frames.put(item)
                if frame.ts >= clip.until_ts:
                    clip.frames.put(_END)
                    self._open.remove(clip)

    def trigger(self, alert_id: str, ts: float) -> None:
        clip = _Clip(alert_id or f"alert-{ts:.2f}", ts, ts + self.cfg.post_s)
        self.shelf.reserve(clip.stem)
        with self._lock:
            for item in self._ring:
                clip.frames.put(item)
            self._open.append(clip)
        t = threading.Thread(target=self._write, args=(clip,), name="evidence", daemon=True)
        self._writers = [w for w in self._writers if w.is_alive()] + [t]  # bounded for weeks
        t.start()

    def _write(self, clip: _Clip) -> Path | None:
        # On an error the queue is dropped with the clip once ``add`` has closed it
        # (``post_s`` later): nothing to drain here.
        path = self.folder / f"{clip.stem}.avi"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.shelf.enforce_quota()
            problem = self.shelf.room_problem() or self._stream(clip, path)
        except Exception as exc:  # evidence is best effort; the lane goes on
            log.exception("could not write evidence clip %s", clip.alert_id)
            problem = f"write failed: {exc}"
        finally:
            self.shelf.release(clip.stem)
        if problem is not None:
            self._lost(clip, path, problem)
            return None
        self.clips_written += 1
        self.shelf.enforce_quota()
        problem = self.privacy.problem if self.privacy is not None else None
        self.on_status("ok" if problem is None else "degraded", self._privacy_note())
        return path

    def _stream(self, clip: _Clip, path: Path) -> str | None:
        """Blur and write the clip's frames as they come; why it did not land, or None."""
        writer = None
        written = 0
        thumb_gap = float("inf")
        thumb_ok = True
        while (item := clip.frames.get()) is not _END:
            ts, picture, boxes = item
            img = picture if picture.ndim == 3 else cv2.imdecode(picture, cv2.IMREAD_COLOR)
            if self.privacy is not None:
                img = self.privacy.apply(img, boxes)
            if writer is None:
                h, w = img.shape[:2]
                writer = cv2.VideoWriter(
                    str(path), cv2.VideoWriter_fourcc(*"MJPG"), self.fps_hint, (w, h)
                )
            writer.write(img)
            written += 1
            if abs(ts - clip.alert_ts) < thumb_gap:  # the thumbnail: the moment of the alert
                thumb_gap = abs(ts - clip.alert_ts)
                thumb_ok = cv2.imwrite(str(path.with_suffix(".jpg")), img)
        if writer is None:
            return None  # no frames (an alert before the first frame): nothing to keep
        writer.release()
        problem = self.shelf.landed(path, written)
        if problem is None and not thumb_ok:
            problem = self.shelf.room_problem() or "thumbnail not written"
        return problem

    def _lost(self, clip: _Clip, path: Path, problem: str) -> None:
        """A clip that did not land: its remains go, the count and the status say so."""
        for p in (path, path.with_suffix(".jpg")):
            p.unlink(missing_ok=True)
        self.clips_failed += 1
        log.error("evidence clip %s not kept: %s", clip.alert_id, problem)
        # degraded, not down: the lane still decides and alerts; only the clips are missing
        self.on_status("degraded", f"clip {clip.alert_id} not kept: {problem}")

    def sweep(self, now_wall: float) -> int:
        """Delete clips older than ``retention_days`` (the lane calls this now and then)."""
        return self.shelf.expire(now_wall)

    def close(self, timeout_s: float = 10.0) -> None:
        with self._lock:
            pending, self._open = self._open, []
        for clip in pending:
            clip.frames.put(_END)
        for t in self._writers:
            t.join(timeout_s)
