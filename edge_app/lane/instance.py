"""One lane, one process: a lock on the lane's state folder.

Two processes on one lane evict each other from the broker (same client id),
the second runs blind and overwrites the first's retained status, and both
write one outbox. The lock is taken before the outbox is touched; the kernel
drops it when the process dies, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


class LaneAlreadyRunning(RuntimeError):
    """Another process holds this lane's state folder."""


class StateLock:
    """An exclusive ``flock`` on ``<state>/lane.lock`` holding the owner's pid."""

    def __init__(self, fd: int, path: Path):
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, path: Path) -> StateLock:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LaneAlreadyRunning(
                f"another edge-app (pid {owner}) already runs this lane: {path} is locked"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    __del__ = release  # a lane that failed half-way through its start holds nothing
