"""Watchdog: pings reach a real NOTIFY_SOCKET only while every heartbeat is fresh."""

import os
import socket
import time

import pytest

from edge_app.lane.health import SystemStats, Watchdog, read_temperature_c, systemd_notifier

WAIT_S = 5.0


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def notify_socket(tmp_path, monkeypatch):
    """What systemd listens on: an AF_UNIX datagram socket named by $NOTIFY_SOCKET."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    yield sock
    sock.close()


def drain(sock) -> list[str]:
    sock.setblocking(False)
    out = []
    try:
        while True:
            out.append(sock.recv(4096).decode())
    except BlockingIOError:
        return out


def recv(sock, timeout_s=WAIT_S) -> str:
    sock.settimeout(timeout_s)
    return sock.recv(4096).decode()


def make_watchdog(clock):
    wd = Watchdog(clock=clock, notifier=systemd_notifier(), interval_s=0.01)
    wd.register("frames", max_age_s=2.0)
    wd.register("scanner/flatbed", max_age_s=5.0)
    wd.register("engine", max_age_s=1.0)
    return wd


def test_stalled_heartbeat_stops_the_pings(notify_socket):
    clock = Clock()
    wd = make_watchdog(clock)
    wd.ready()
    assert drain(notify_socket) == ["READY=1\nSTATUS=running"]
    wd.ready()  # once only
    assert wd.tick() is True
    assert drain(notify_socket) == ["WATCHDOG=1"]

    clock.now += 1.5  # engine (1 s) missed its beat; the others are within theirs
    for name in ("frames", "scanner/flatbed"):
        wd.beat(name)
    assert wd.tick() is False and wd.tick() is False
    assert drain(notify_socket) == ["STATUS=stalled: engine 1.5s"]

    wd.beat("engine")  # the loop is back
    assert wd.tick() is True
    assert drain(notify_socket) == ["STATUS=running", "WATCHDOG=1"]


def test_ping_thread_stops_pinging_when_the_main_loop_stalls(notify_socket):
    clock = Clock()
    wd = make_watchdog(clock)
    wd.start()
    try:
        assert recv(notify_socket) == "READY=1\nSTATUS=running"  # start() implies ready
        assert recv(notify_socket) == "WATCHDOG=1"
        clock.now += 3.0  # every loop stalls (nobody beats)
        msgs = []
        while not any(m.startswith("STATUS=stalled") for m in msgs):
            msgs.append(recv(notify_socket))
        ticks = wd.ticks
        end = time.monotonic() + WAIT_S
        while wd.ticks < ticks + 5 and time.monotonic() < end:
            time.sleep(0.01)
        assert wd.ticks >= ticks + 5  # the thread kept deciding …
        assert drain(notify_socket) == []  # … and sent nothing more
    finally:
        wd.stop()
    assert drain(notify_socket)[-1] == "STOPPING=1"


def test_unregistered_beats_are_ignored_and_no_socket_is_harmless(monkeypatch):
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    clock = Clock()
    wd = Watchdog(clock=clock, interval_s=0.01)
    wd.beat("nobody")
    assert wd.healthy(clock.now) and wd.tick() is True  # no loops registered, no socket: no error


def test_stats_parse_proc_and_thermal(tmp_path):
    (tmp_path / "self").mkdir()
    (tmp_path / "self" / "status").write_text("VmRSS:\t 102400 kB\n")
    (tmp_path / "stat").write_text("cpu  100 0 100 800 0 0 0 0\n")
    zone = tmp_path / "thermal" / "thermal_zone0"
    zone.mkdir(parents=True)
    (zone / "temp").write_text("61250\n")
    stats = SystemStats(proc=tmp_path, thermal=tmp_path / "thermal")
    first = stats.sample()
    assert first == {
        "cpu_percent": None,
        "lane_cpu_percent": None,
        "temperature_c": 61.25,
        "rss_mb": 100.0,
    }
    (tmp_path / "stat").write_text("cpu  150 0 150 900 0 0 0 0\n")
    assert stats.sample()["cpu_percent"] == 50.0
    assert read_temperature_c(tmp_path / "missing") is None


def test_the_lanes_own_cpu_is_known_when_the_unit_hides_proc_stat(tmp_path):
    """ProcSubset=pid hides /proc/stat: the box's CPU is unknown, the lane's own is not."""
    clock, used = Clock(), [0.0]
    stats = SystemStats(proc=tmp_path, clock=clock, process_times=lambda: used[0])
    assert stats.sample()["lane_cpu_percent"] is None
    clock.now += 10.0
    used[0] += 5.0  # half a core for 10 s
    sample = stats.sample()
    assert sample["cpu_percent"] is None
    assert sample["lane_cpu_percent"] == round(50.0 / (os.cpu_count() or 1), 1)
