"""The outbox on a disk that fills, is read-only or is corrupt: nothing lost uncounted.

Real limits: a small tmpfs mounted for the test when we may mount (root),
else SQLite's own ``max_page_count`` (the tests that need a real filesystem
say so and skip).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

from jsonschema import Draft202012Validator

from edge_app.config import MqttConfig, load_config
from edge_app.events import LaneEvent
from edge_app.store_link.client import StoreLink
from edge_app.store_link.outbox import JOURNAL_SIZE_LIMIT, Outbox
from edge_app.tools.asyncapi import build_document
from tests.store_link.conftest import Subscriber, wait_until
from tests.store_link.test_delivery import first_occurrences, persistent_broker
from tests.store_link.test_outbox import envelope

REPO = Path(__file__).resolve().parents[2]


def seqs(rows) -> list[int]:
    import json

    return [json.loads(r.payload)["seq"] for r in rows]


def all_rows(box: Outbox) -> list:
    rows, after = [], 0
    while batch := box.pending(500, after_id=after):
        rows += batch
        after = batch[-1].row_id
    return rows


def test_a_disk_that_fills_loses_nothing_uncounted_and_takes_it_all_back(small_disk):
    disk = small_disk("4m")
    box = Outbox(disk.path / "o.db", 100_000, synchronous="NORMAL", memory_max=300)
    for i in range(1, 101):
        box.put(envelope(i))
    disk.fill(box)
    n = 100
    while box.memory_depth() < 300 and n < 20_000:  # the reserve buys a few more on disk
        n += 1
        box.put(envelope(n))
    for _ in range(200):  # beyond the memory bound: the oldest waiting ones go, counted
        n += 1
        box.put(envelope(n))
    assert box.depth() + box.dropped_total == n
    assert box.dropped_total == box.memory_dropped_total == 200
    health = box.health()
    assert health.status == "degraded" and health.cause == "disk full"
    assert "300 events waiting in memory, 200 dropped" in health.detail
    counters = box.counters()
    assert counters["outbox_memory_queued"] == 300 and counters["outbox_dropped_total"] == 200

    disk.free(box)
    assert box.flush_pending(force=True) == 300
    assert box.memory_depth() == 0 and box.health().status == "ok"
    assert box.counters()["outbox_persisted_late_total"] == 300
    box.close()
    again = Outbox(disk.path / "o.db", 100_000)
    got = seqs(all_rows(again))
    assert len(got) == n - 200 and got == sorted(got)
    assert set(range(1, n + 1)) - set(got) == set(range(n - 499, n - 299)), "the oldest waiting"
    assert again.dropped_total == 200  # persisted with the late rows
    again.close()


def quick_link(broker, box: Outbox, boot: str, on_status=None) -> StoreLink:
    """Lane s1/l1's link, reconnecting within a fraction of a second."""
    return StoreLink(
        MqttConfig(url=broker.url),
        "s1",
        "l1",
        box,
        boot,
        on_outbox_status=on_status,
        reconnect_min_s=0.1,
        reconnect_max_s=0.3,
    )


def publish(link: StoreLink, n: int) -> None:
    for i in range(n):
        link.publish_event(LaneEvent(ts=float(i), type="transaction.started", transaction_id="t"))


def test_full_disk_with_a_broker_delivers_every_event_in_order_and_reports_it(tmp_path, small_disk):
    disk = small_disk("4m")
    broker = persistent_broker(tmp_path).start()
    hq = Subscriber(broker, "checkout/v1/s1/l1/events", client_id="hq-d", persistent=True).start()
    broker.stop()  # HQ's session waits in the broker's store
    statuses: list[tuple[str, str]] = []
    box = Outbox(disk.path / "o.db", 10_000, synchronous="NORMAL", memory_max=5_000)
    link = quick_link(broker, box, "boot-d", lambda s, d: statuses.append((s, d)))
    try:
        link.start()
        publish(link, 200)  # broker down: on disk
        disk.fill(box)
        publish(link, 1_300)  # broker down, disk full: in memory
        assert box.memory_depth() > 0 and box.dropped_total == 0
        assert any(s == "degraded" and "disk full" in d for s, d in statuses), statuses
        broker.start()
        wait_until(lambda: box.depth() == 0, 30, "the lane drained, disk still full")
        wait_until(lambda: len({e["event_id"] for e in hq.json()}) >= 1_500, 20, "HQ has all")
        assert [e["seq"] for e in first_occurrences(hq.json())] == list(range(1, 1_501))
        disk.free(box)
        wait_until(lambda: (link.maintain(), statuses[-1][0] == "ok")[1], 10, "status ok again")
        assert statuses[-1] == ("ok", "broker connected")
        assert box.counters()["outbox_dropped_total"] == 0
    finally:
        link.stop(timeout_s=0.5)
        hq.stop()
        broker.stop()
        box.close()


def test_a_two_megabyte_filesystem_recovers_once_the_broker_drains(tmp_path, small_disk):
    disk = small_disk("2m")
    disk.require_real()
    broker = persistent_broker(tmp_path).start()
    hq = Subscriber(broker, "checkout/v1/s1/l1/events", client_id="hq-2", persistent=True).start()
    broker.stop()
    box = Outbox(disk.path / "o.db", 100_000, synchronous="NORMAL", memory_max=300)
    link = quick_link(broker, box, "boot-2")
    try:
        link.start()
        n = 0
        while box.memory_depth() < 300 and n < 50_000:  # the outbox itself fills the disk
            publish(link, 1)
            n += 1
        publish(link, 100)  # 100 over the memory bound: dropped and counted
        n += 100
        assert box.dropped_total == 100 and box.health().cause == "disk full"
        broker.start()
        wait_until(lambda: box.depth() == 0, 60, "the queue drained on a full 2 MB disk")
        wait_until(lambda: len({e["event_id"] for e in hq.json()}) >= n - 100, 20, "HQ has all")
        got = [e["seq"] for e in first_occurrences(hq.json())]
        assert got == sorted(got) and len(got) == n - 100
        stats = Subscriber(broker, "checkout/v1/s1/l1/stats").start()
        assert link.publish_stats({"fps": 1.0})
        wait_until(lambda: stats.json(), 10, "stats")
        stats.stop()
        Draft202012Validator(build_document()["components"]["schemas"]["stats"]).validate(
            stats.json()[0]
        )
        assert stats.json()[0]["outbox_dropped_total"] == 100
        assert stats.json()[0]["outbox_memory_dropped_total"] == 100
        broker.stop()  # the disk must take events again, not just memory
        wait_until(lambda: not link.connected, 10, "lane sees the broker gone")
        box.flush_pending(force=True)
        publish(link, 500)
        assert box.memory_depth() == 0 and box.health().status == "ok"
        box.flush_pending(force=True)  # housekeeping: free pages back, reserve re-made
        wal = disk.path / "o.db-wal"
        assert not wal.exists() or wal.stat().st_size <= JOURNAL_SIZE_LIMIT + 64 * 1024
        assert box.reserve_path.exists()
    finally:
        link.stop(timeout_s=0.5)
        hq.stop()
        broker.stop()
        box.close()


def test_the_wal_and_the_file_stay_small_while_events_come_and_go(tmp_path):
    path = tmp_path / "o.db"
    box = Outbox(path, 100_000, synchronous="NORMAL")
    for i in range(3_000):
        box.ack(box.put(envelope(i)))
    assert Path(f"{path}-wal").stat().st_size <= JOURNAL_SIZE_LIMIT + 64 * 1024
    ids = [box.put(envelope(i)) for i in range(3_000)]
    grown = path.stat().st_size + Path(f"{path}-wal").stat().st_size
    box.ack_many(ids)
    box.flush_pending(force=True)
    assert path.stat().st_size + Path(f"{path}-wal").stat().st_size < grown / 4
    box.close()


def test_a_read_only_outbox_at_start_is_drained_not_renamed(small_disk):
    disk = small_disk("4m")
    path = disk.path / "o.db"
    with Outbox(path, 100) as box:
        for i in range(1, 31):
            box.put(envelope(i))
    disk.read_only(path)
    box = Outbox(path, 100)
    try:
        assert not list(disk.path.glob("*.corrupt-*"))
        assert box.depth() == 30 and box.health().cause == "read-only"
        new = [box.put(envelope(i)) for i in (31, 32)]
        rows = box.pending(100)
        assert seqs(rows) == list(range(1, 33))
        assert box.ack_many(r.row_id for r in rows[:30]) == 30  # kept in memory for now
        assert box.depth() == 2 and seqs(box.pending(100)) == [31, 32]
        disk.writable(path)
        box.flush_pending(force=True)
        assert box.health().status == "ok" and box.memory_depth() == 0
        box.close()
        again = Outbox(path, 100)
        assert [r.row_id for r in again.pending(100)] == new
        again.close()
    finally:
        box.close()


def test_a_full_disk_at_start_renames_nothing_and_sends_what_is_there(small_disk):
    disk = small_disk("2m")
    disk.require_real()
    path = disk.path / "o.db"
    with Outbox(path, 1_000, reserve_bytes=0) as box:
        for i in range(1, 102):
            box.put(envelope(i))
    disk.fill()
    box = Outbox(path, 1_000, reserve_bytes=0)
    try:
        assert not list(disk.path.glob("*.corrupt-*"))
        assert box.health().cause == "disk full" and box.depth() == 101
        box.put(envelope(102))
        assert seqs(all_rows(box)) == list(range(1, 103))
        disk.free()
        box.flush_pending(force=True)
        assert box.health().status == "ok" and box.memory_depth() == 0
    finally:
        box.close()
    with Outbox(path, 1_000) as again:
        assert seqs(all_rows(again)) == list(range(1, 103))


def test_a_corrupt_file_is_moved_aside_and_its_readable_rows_salvaged(tmp_path):
    path = tmp_path / "o.db"
    with Outbox(path, 10_000, synchronous="NORMAL") as box:
        for i in range(1, 401):
            box.put(envelope(i))
    with sqlite3.connect(path) as con:
        page = con.execute("PRAGMA page_size").fetchone()[0]
        pages = con.execute("PRAGMA page_count").fetchone()[0]
    with open(path, "r+b") as f:  # garbage over one page in the middle
        f.seek(page * (pages // 2))
        f.write(os.urandom(page))
    box = Outbox(path, 10_000)
    try:
        assert box.recovered_from is not None and box.recovered_from.exists()
        got = seqs(all_rows(box))
        assert 300 < len(got) < 400 and box.salvaged_total == len(got)
        assert got == sorted(got) and set(got) <= set(range(1, 401))
        assert got[0] == 1 and got[-1] == 400, "rows on both sides of the bad page"
        nxt = box.put(envelope(401))
        assert nxt > max(r.row_id for r in box.pending(1000)[:-1])
    finally:
        box.close()


def test_a_lane_on_a_full_disk_starts_reports_status_outbox_and_recovers(tmp_path, small_disk):
    from edge_app.lane.app import Lane

    disk = small_disk("4m")
    disk.require_real()
    cfg = load_config(REPO / "calibration" / "demo" / "lane.yaml").model_copy(
        update={"state_dir": str(disk.path / "state"), "scanners": []}
    )
    lane = Lane(cfg, use_watchdog=False)
    publish(lane.link, 101)
    lane.stop()
    disk.fill()
    (disk.path / "state" / "outbox.db-reserve").unlink(missing_ok=True)  # given back, eaten
    disk.fill()
    lane = Lane(cfg, use_watchdog=False)  # used to rename the outbox, then exit 1
    try:
        lane.start(camera=False)
        lane.drain()
        status = lane.statuses["outbox"]
        assert status.status == "degraded" and "disk full" in status.detail
        assert lane.outbox.depth() == 101
        assert not list((disk.path / "state").glob("*.corrupt-*"))
        disk.free()

        def healed() -> bool:
            lane.periodic()
            lane.drain()
            return lane.statuses["outbox"].status == "ok"

        wait_until(healed, 10, "status/outbox ok again")
    finally:
        with contextlib.suppress(Exception):
            lane.stop()


def test_puts_from_two_threads_while_the_disk_refuses_keep_every_event(small_disk):
    disk = small_disk("4m")
    box = Outbox(disk.path / "o.db", 100_000, synchronous="NORMAL", memory_max=100_000)
    box.put(envelope(0))
    disk.fill(box)
    done = threading.Event()
    acked: list[int] = []

    def acker() -> None:
        while not done.is_set() or box.depth():
            rows = box.pending(50)
            acked.extend(seqs(rows))
            box.ack_many(r.row_id for r in rows)

    t = threading.Thread(target=acker)
    t.start()
    for i in range(1, 3_000):
        box.put(envelope(i))
    disk.free(box)
    box.flush_pending(force=True)
    done.set()
    t.join(30)
    assert sorted(set(acked)) == list(range(3_000)) and box.dropped_total == 0
    box.close()


def test_an_outbox_unreadable_at_start_keeps_its_rows_first_once_the_disk_frees(small_disk):
    disk = small_disk("2m")
    disk.require_real()
    path = disk.path / "o.db"
    killed = (  # a lane killed -9: its last events sit in the WAL
        "import os, sys; from edge_app.store_link.outbox import Outbox;"
        "from tests.store_link.test_outbox import envelope;"
        "box = Outbox(sys.argv[1], 100, reserve_bytes=0);"
        "[box.put(envelope(i)) for i in range(1, 6)]; os.kill(os.getpid(), 9)"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    subprocess.run([sys.executable, "-c", killed, str(path)], env=env, check=False)
    assert Path(f"{path}-wal").stat().st_size > 0
    Path(f"{path}-shm").unlink()  # rebuilt from the WAL by whoever opens it next
    disk.fill()
    box = Outbox(path, 100, reserve_bytes=0)
    try:
        assert box.depth() == 0 and box.health().cause == "disk full"  # cannot even read it
        ids = [box.put(envelope(i)) for i in (6, 7)]
        assert [r.row_id for r in box.pending(10)] == ids
        disk.free()
        box.flush_pending(force=True)
        assert box.epoch == 1, "ids handed out changed: the pump must start over"
        assert seqs(box.pending(10)) == [1, 2, 3, 4, 5, 6, 7]
        assert box.health().status == "ok"
    finally:
        box.close()
