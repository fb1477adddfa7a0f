"""A mosquitto of our own on a free port: the demo's, the soak's and the tests' broker.

``persistence`` keeps sessions and queued QoS 1 messages across ``restart()``,
as a store broker does (the soak restarts it every few minutes and counts
what a persistent subscriber receives).
"""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BrokerMissing(RuntimeError):
    """No mosquitto on this machine."""


class Mosquitto:
    """Start/stop/restart one mosquitto process; the port survives restarts."""

    def __init__(
        self,
        workdir: Path,
        port: int | None = None,
        extra_conf: str = "",
        *,
        persistence: bool = False,
    ):
        self.exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(self.exe).exists():
            raise BrokerMissing(
                "mosquitto is not installed (make test installs the Debian package)"
            )
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.conf = self.workdir / "mosquitto.conf"
        self.log = self.workdir / "mosquitto.log"
        body = extra_conf or "allow_anonymous true\n"
        # started as root, mosquitto becomes user "mosquitto", who cannot write its log or its
        # persistence file here (a restart would forget every session): it stays who we are
        stay = f"user {getpass.getuser()}\n"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n{self._persistence(persistence)}{body}\n{stay}"
            f"log_dest file {self.log}\nlog_type error\nlog_type warning\nlog_type notice\n"
        )
        self.proc: subprocess.Popen | None = None

    def _persistence(self, on: bool) -> str:
        if not on:
            return "persistence false\n"
        return f"persistence true\npersistence_location {self.workdir}/\nautosave_interval 30\n"

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> Mosquitto:
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"mosquitto exited: {self.log.read_text() if self.log.exists() else ''}"
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not open its port")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()
