"""Real-broker helpers for the store link tests: subscribers, retained reads, lane processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.fixtures.broker import Mosquitto

REPO = Path(__file__).resolve().parents[2]


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.02
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Subscriber:
    """A paho MQTT 5 client that records every message; optionally a persistent session."""

    def __init__(
        self,
        broker: Mosquitto,
        topic: str,
        *,
        client_id: str = "",
        persistent: bool = False,
        username: str | None = None,
        password: str | None = None,
    ):
        self.broker = broker
        self.topic = topic
        self.persistent = persistent
        self.messages: list[mqtt.MQTTMessage] = []
        self.lock = threading.Lock()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-sub-{id(self)}",
            protocol=mqtt.MQTTv5,
        )
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(0.1, 0.5)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = lambda *a: self.connected.clear()
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            return
        client.subscribe(self.topic, qos=1)
        self.connected.set()

    def _on_message(self, client, userdata, message):
        with self.lock:
            self.messages.append(message)

    def start(self, timeout: float = 5.0) -> Subscriber:
        props = None
        if self.persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect_async(
            self.broker.host,
            self.broker.port,
            keepalive=10,
            clean_start=not self.persistent,
            properties=props,
        )
        self.client.loop_start()
        wait_until(self.subscribed.is_set, timeout, f"subscription to {self.topic}")
        return self

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def snapshot(self) -> list[mqtt.MQTTMessage]:
        with self.lock:
            return list(self.messages)

    def payloads(self, topic_suffix: str = "") -> list[bytes]:
        return [m.payload for m in self.snapshot() if m.topic.endswith(topic_suffix)]

    def json(self, topic_suffix: str = "") -> list[dict]:
        return [json.loads(p) for p in self.payloads(topic_suffix)]


def retained(broker: Mosquitto, topic: str, timeout: float = 2.0) -> bytes | None:
    """The retained payload on ``topic`` as a fresh client sees it (None if there is none)."""
    got: list[bytes] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
    client.on_subscribe = lambda *a: threading.Timer(0.3, done.set).start()

    def on_message(c, u, m):
        if m.retain:
            got.append(m.payload)
            done.set()

    client.on_message = on_message
    client.connect(broker.host, broker.port)
    client.loop_start()
    done.wait(timeout)
    client.disconnect()
    client.loop_stop()
    return got[0] if got else None


def wait_retained(broker: Mosquitto, topic: str, expected: bytes, timeout: float = 8.0) -> None:
    last: list[bytes | None] = [None]

    def check() -> bool:
        last[0] = retained(broker, topic, timeout=1.0)
        return last[0] == expected

    try:
        wait_until(check, timeout, f"retained {expected!r} on {topic}", poll=0.1)
    except AssertionError:
        raise AssertionError(f"retained on {topic}: {last[0]!r}, expected {expected!r}") from None


class LaneProcess:
    """``tests/store_link/lane_process.py`` in its own interpreter, so it can be killed -9."""

    def __init__(
        self,
        url: str,
        outbox: Path,
        *,
        boot_id: str,
        publish: int = 0,
        store: str = "s1",
        lane: str = "l1",
    ):
        self.args = [
            sys.executable,
            str(REPO / "tests" / "store_link" / "lane_process.py"),
            "--url",
            url,
            "--outbox",
            str(outbox),
            "--store",
            store,
            "--lane",
            lane,
            "--boot-id",
            boot_id,
            "--publish",
            str(publish),
        ]
        self.proc: subprocess.Popen | None = None
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def start(self) -> LaneProcess:
        env = dict(os.environ, PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            self.args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout: float = 15.0) -> str:
        def found() -> bool:
            return any(line.startswith(prefix) for line in self.lines) or (
                self.proc.poll() is not None
            )

        wait_until(found, timeout, f"{prefix!r} from the lane process")
        for line in self.lines:
            if line.startswith(prefix):
                return line
        raise AssertionError(
            f"lane process exited ({self.proc.returncode}) without {prefix!r}:\n"
            + "\n".join(self.lines)
        )

    def kill9(self) -> None:
        assert self.proc
        self.proc.kill()
        self.proc.wait(5)

    def stop(self, timeout: float = 10.0) -> int:
        assert self.proc and self.proc.stdin
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        return self.proc.wait(timeout)

    def cleanup(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def lane_processes():
    started: list[LaneProcess] = []

    def make(*args, **kwargs) -> LaneProcess:
        p = LaneProcess(*args, **kwargs)
        started.append(p)
        return p

    yield make
    for p in started:
        p.cleanup()
