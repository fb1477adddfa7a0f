"""A scanner on a pseudo-terminal: for tests, the demo and ``edge-app scanner sim``.

The lane reads it exactly like a USB CDC scanner (``ScannerReader`` opens the
pty's slave side with pyserial); we type codes into the master side.

Unplug and replug: closing the master makes reads on the slave fail with EIO,
as a yanked USB cable does, and a new pty gets a new ``/dev/pts/N``. Real
lanes find the scanner again through a stable symlink (``/dev/serial/by-id``,
or ours from ``hardware/99-edge-app.rules``); here ``link`` plays that part:
``replug()`` re-points it to the new pty, so the lane's config names the link.
"""

from __future__ import annotations

import os
import tty
from pathlib import Path


class VirtualScanner:
    """A pty pair that types scanner lines.

    Args:
        link: optional stable path (a symlink re-pointed on replug); point the
            lane's ``scanners[].port`` at it.
        terminator: bytes sent after each ``scan()``.
    """

    def __init__(self, link: str | os.PathLike | None = None, terminator: bytes = b"\r\n") -> None:
        self.link = Path(link) if link is not None else None
        self.terminator = terminator
        self._master: int | None = None
        self._slave: int | None = None
        self.tty_path = ""
        self.replug()

    @property
    def path(self) -> str:
        """What a lane should open: the stable link if any, else the pty."""
        return str(self.link) if self.link is not None else self.tty_path

    @property
    def plugged(self) -> bool:
        return self._master is not None

    @property
    def reader_attached(self) -> bool:
        """Whether someone (the lane) has the device open: the master sees no hang-up."""
        import select

        if self._master is None:
            return False
        poller = select.poll()
        poller.register(self._master, select.POLLHUP)
        return not any(ev & select.POLLHUP for _, ev in poller.poll(0))

    def wait_for_reader(self, timeout_s: float, settle_s: float = 0.2) -> bool:
        """Wait until the lane opens the port (then ``settle_s``: pyserial flushes input on open)."""
        import time

        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if self.reader_attached:
                time.sleep(settle_s)
                return True
            time.sleep(0.02)
        return False

    def write(self, data: bytes) -> None:
        """Send raw bytes, as the scanner would (partial lines allowed)."""
        if self._master is None:
            raise RuntimeError("virtual scanner is unplugged")
        view = memoryview(data)
        while view:
            written = os.write(self._master, view)
            view = view[written:]

    def scan(self, code: str) -> None:
        """Type one code followed by the terminator."""
        self.write(code.encode("latin-1") + self.terminator)

    def read(self, n: int = 4096, timeout_s: float = 1.0) -> bytes:
        """Bytes the lane wrote to the device (a tower light on a pty, say)."""
        import select

        if self._master is None:
            raise RuntimeError("virtual device is unplugged")
        ready, _, _ = select.select([self._master], [], [], timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self._master, n)
        except OSError:  # EIO: nobody has the device open (yet)
            return b""

    def unplug(self) -> None:
        """Pull the cable: the reader's next read fails with EIO."""
        for fd in (self._master, self._slave):
            if fd is not None:
                os.close(fd)
        self._master = self._slave = None

    def replug(self) -> None:
        """Plug in again: a new pty, and the stable link re-pointed at it."""
        self.unplug()
        master, slave = os.openpty()
        # Raw mode at once, as a real CDC device is: no CR->LF, no echo, no
        # line buffering, even before the lane opens the port.
        tty.setraw(slave)
        self.tty_path = os.ttyname(slave)
        os.close(slave)  # only the lane holds the slave: POLLHUP tells us whether it does
        self._master, self._slave = master, None
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".new")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.tty_path, tmp)
            os.replace(tmp, self.link)  # atomic, like udev re-creating by-id links

    def reopen(self) -> None:
        """Unplug and replug at once."""
        self.replug()

    def close(self) -> None:
        self.unplug()
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()

    def __enter__(self) -> VirtualScanner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
