"""One lane, one process: a lock on the lane's state folder.

Two processes on one lane evict each other from the broker (same client id),
the second runs blind and overwrites the first's retained status, and both
write one outbox. The lock is taken before the outbox is touched; the kernel
drops it when the process dies, so a crash never leaves a stale lock behind.

The lock is on the state *folder* itself (an ``flock`` on its descriptor),
so it holds on a full or read-only disk too, where a lock file could not be
created (the outbox then runs from memory; it must not run twice). The
owner's pid goes into ``lane.lock`` where the disk lets it, for the message
a second process prints.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


class LaneAlreadyRunning(RuntimeError):
    """Another process holds this lane's state folder."""


class StateLock:
    """An exclusive ``flock`` on the state folder; ``<state>/lane.lock`` holds the owner's pid."""

    def __init__(self, fd: int, path: Path):
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, path: Path) -> StateLock:
        """``path`` is ``<state>/lane.lock``: the folder is locked, the file names the owner."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            try:
                owner = path.read_text(errors="replace").strip() or "?"
            except OSError:
                owner = "?"
            raise LaneAlreadyRunning(
                f"another edge-app (pid {owner}) already runs this lane: {path.parent} is locked"
            ) from None
        try:
            path.write_text(f"{os.getpid()}\n")
        except OSError as exc:  # full or read-only: the lock holds all the same
            log.warning("could not write the owner's pid to %s (%s); the lane is locked", path, exc)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None

    __del__ = release  # a lane that failed half-way through its start holds nothing
