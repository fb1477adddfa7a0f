"""The evidence folder: which clips stay (quota, days), and whether a clip really landed.

A clip is its files sharing one stem (``A001.avi`` + ``A001.jpg``); clips go
whole. Oldest first means the order the alerts were raised for clips of this
run (writers finish out of order, so mtimes do not tell), then modification
time for clips an earlier run left. A clip still being written is never a
candidate: the evidence of an alert that is open now matters most.

Why a clip is checked after writing: OpenCV's ``VideoWriter`` reports nothing
when the disk fills; it leaves a short or unplayable file. The shelf counts
the frames that can be read back and calls the clip lost (deleting the
remains) when they fall short, with the cause: free space or the OS error.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2

#: below this free space a clip is not started (an MJPG clip of 5 s at 10 fps is ~2 MB)
MIN_FREE_BYTES = 4 * 1024 * 1024
DAY_S = 86400.0


@dataclass(frozen=True)
class ClipOnDisk:
    stem: str
    files: tuple[Path, ...]
    size: int
    mtime: float


class ClipShelf:
    """Thread-safe: writer threads and the lane thread's sweep share one lock."""

    def __init__(self, folder: Path, quota_bytes: int, retention_days: float):
        self.folder = Path(folder)
        self.quota_bytes = quota_bytes
        self.retention_s = retention_days * DAY_S
        self._lock = threading.Lock()
        self._order: dict[str, int] = {}  # stem -> the order its alert was raised, this run
        self._seq = itertools.count()
        self._writing: set[str] = set()
        self.clips_deleted = 0  # over the quota
        self.clips_expired = 0  # older than the retention

    def reserve(self, stem: str) -> None:
        """Called as the alert is raised (on the lane thread): fixes the clip's age."""
        with self._lock:
            self._order[stem] = next(self._seq)
            self._writing.add(stem)

    def release(self, stem: str) -> None:
        with self._lock:
            self._writing.discard(stem)

    def clips(self) -> list[ClipOnDisk]:
        """Clips not being written, oldest first."""
        groups: dict[str, list[Path]] = {}
        for p in self.folder.glob("*"):
            if p.is_file() and p.stem not in self._writing:
                groups.setdefault(p.stem, []).append(p)
        found = []
        for stem, files in groups.items():
            stats = [f.stat() for f in files if f.exists()]
            if stats:
                size = sum(s.st_size for s in stats)
                found.append(ClipOnDisk(stem, tuple(files), size, max(s.st_mtime for s in stats)))

        def age(c: ClipOnDisk) -> tuple[int, float]:
            order = self._order.get(c.stem)
            return (0, c.mtime) if order is None else (1, float(order))

        return sorted(found, key=age)

    def enforce_quota(self) -> int:
        """Delete the oldest clips while the folder is over the quota; how many went."""
        with self._lock:
            if not self.folder.is_dir():
                return 0
            clips = self.clips()
            total = sum(p.stat().st_size for p in self.folder.glob("*") if p.is_file())
            gone = 0
            while clips and total > self.quota_bytes:
                clip = clips.pop(0)
                self._forget(clip)
                total -= clip.size
                gone += 1
            self.clips_deleted += gone
            return gone

    def expire(self, now_wall: float) -> int:
        """Delete clips older than the retention (by wall clock); how many went."""
        with self._lock:
            if not self.folder.is_dir():
                return 0
            old = [c for c in self.clips() if now_wall - c.mtime > self.retention_s]
            for clip in old:
                self._forget(clip)
            self.clips_expired += len(old)
            return len(old)

    def _forget(self, clip: ClipOnDisk) -> None:
        _delete(clip.files)
        self._order.pop(clip.stem, None)

    def room_problem(self) -> str | None:
        """Why a clip cannot start now (disk full), or None."""
        free = shutil.disk_usage(self.folder).free
        if free < MIN_FREE_BYTES:
            return f"disk full: {free / 1e6:.1f} MB free on {self.folder}"
        return None

    def landed(self, path: Path, frames_written: int) -> str | None:
        """Why the clip at ``path`` is not what was written, or None when it is whole."""
        readable = count_frames(path)
        if readable >= frames_written:
            return None
        cause = self.room_problem() or "write failed"
        return f"{cause} ({readable} of {frames_written} frames readable in {path.name})"


def count_frames(path: Path) -> int:
    """Frames that can really be read back (the container's header may promise more)."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    cap = cv2.VideoCapture(str(path))
    n = 0
    try:
        while cap.isOpened() and cap.grab():
            n += 1
    finally:
        cap.release()
    return n


def _delete(files: tuple[Path, ...]) -> None:
    for f in files:
        f.unlink(missing_ok=True)
