"""The outbox on real SQLite files: order, ack, bounded drops, reopen, threads."""

from __future__ import annotations

import sqlite3
import threading

import pytest

from edge_app.events import SCHEMA_VERSION, Envelope
from edge_app.store_link.outbox import Outbox, rows_to_drop


def envelope(seq: int) -> Envelope:
    return Envelope(
        schema=SCHEMA_VERSION,
        event_id=f"e-{seq}",
        boot_id="b",
        seq=seq,
        ts="2024-01-01T00:00:00.000Z",
        mono_ts=float(seq),
        store_id="s",
        lane_id="l",
        type="transaction.started",
        transaction_id="t",
        data={},
    )


def test_pending_is_oldest_first_and_ack_deletes_only_that_row(tmp_path):
    box = Outbox(tmp_path / "o.db", 100)
    ids = [box.put(envelope(i)) for i in range(1, 6)]
    assert ids == sorted(ids)
    assert [r.event_id for r in box.pending(10)] == ["e-1", "e-2", "e-3", "e-4", "e-5"]
    assert box.ack(ids[2]) is True
    assert box.ack(ids[2]) is False  # a duplicate PUBACK is harmless
    assert [r.event_id for r in box.pending(10)] == ["e-1", "e-2", "e-4", "e-5"]
    assert [r.event_id for r in box.pending(2, after_id=ids[1])] == ["e-4", "e-5"]
    assert box.depth() == 4
    assert b'"seq":4' in box.pending(10)[2].payload


def test_full_outbox_drops_oldest_and_counts_it_persistently(tmp_path):
    path = tmp_path / "o.db"
    box = Outbox(path, 3)
    for i in range(1, 8):
        box.put(envelope(i))
    assert box.depth() == 3
    assert [r.event_id for r in box.pending(10)] == ["e-5", "e-6", "e-7"]
    assert box.dropped_total == 4
    box.close()
    again = Outbox(path, 3)
    assert again.dropped_total == 4
    again.put(envelope(8))
    assert again.dropped_total == 5
    assert [r.event_id for r in again.pending(10)] == ["e-6", "e-7", "e-8"]


@pytest.mark.parametrize(
    "depth, limit, drop", [(0, 1, 0), (1, 1, 1), (4, 5, 0), (5, 5, 1), (10, 5, 6)]
)
def test_drop_policy_makes_room_for_exactly_one(depth, limit, drop):
    assert rows_to_drop(depth, limit) == drop


def test_reopen_after_close_keeps_rows_order_and_never_reuses_ids(tmp_path):
    path = tmp_path / "o.db"
    box = Outbox(path, 100)
    first = [box.put(envelope(i)) for i in range(1, 4)]
    box.ack_many(first)  # empty now: a naive rowid would restart at 1
    box.put(envelope(4))
    box.close()
    box = Outbox(path, 100)
    assert box.depth() == 1
    new_id = box.put(envelope(5))
    assert new_id > max(first)
    assert [r.event_id for r in box.pending(10)] == ["e-4", "e-5"]
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_puts_and_acks_from_two_threads_leave_nothing_behind(tmp_path):
    box = Outbox(tmp_path / "o.db", 10_000, synchronous="NORMAL")
    done = threading.Event()
    errors: list[BaseException] = []

    def acker() -> None:
        try:
            while not (done.is_set() and box.depth() == 0):
                rows = box.pending(50)
                box.ack_many(r.row_id for r in rows)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=acker)
    t.start()
    for i in range(2000):
        box.put(envelope(i))
    done.set()
    t.join(30)
    assert not t.is_alive() and not errors
    assert box.depth() == 0 and box.pending(10) == []


def test_a_file_that_is_not_a_database_is_moved_aside_not_fatal(tmp_path):
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not sqlite" * 100)
    box = Outbox(path, 10)
    assert box.recovered_from is not None and box.recovered_from.exists()
    box.put(envelope(1))
    assert box.depth() == 1


def test_max_events_must_be_positive(tmp_path):
    with pytest.raises(ValueError):
        Outbox(tmp_path / "o.db", 0)
