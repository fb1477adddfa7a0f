"""SQLite outbox: every event is on disk before it is published, gone only on PUBACK.

Why SQLite in WAL mode: one small file, crash-safe, a reader (the MQTT
network thread draining) never blocks the writer (the engine putting).

Why ``synchronous=FULL`` by default: in WAL mode ``NORMAL`` already survives
a kill -9 (committed pages sit in the OS page cache and reach the WAL file),
but on *power loss* it may roll back the last transactions, i.e. lose the
most recent events, which a kiosk that gets unplugged will do. ``FULL``
fsyncs the WAL on every commit, so an event whose ``put`` returned survives
power loss. A lane produces a handful of events per basket, so an fsync per
event (a few ms, tens on an SD card) is affordable. Bulk tests may pass
``synchronous="NORMAL"``; it is equally safe against kill -9.

Bounded: beyond ``max_events`` the *oldest* rows are dropped (the newest
tell HQ most about the lane now) and counted in ``dropped_total``, which is
persisted in the same transaction, so the loss is never silent.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge_app.events import Envelope
from edge_app.store_link.envelope import to_json

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,   -- never reused: publish order
    event_id TEXT NOT NULL,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('dropped_total', 0);
"""


def rows_to_drop(depth: int, max_events: int) -> int:
    """How many oldest rows must go so that one more fits (the drop policy).

    >>> rows_to_drop(3, 5), rows_to_drop(5, 5), rows_to_drop(9, 5)
    (0, 1, 5)
    """
    return max(0, depth + 1 - max_events)


@dataclass(frozen=True)
class OutboxRow:
    row_id: int
    event_id: str
    payload: bytes


class Outbox:
    """Thread-safe: one connection behind one lock; every method is one short transaction."""

    def __init__(
        self,
        path: str | os.PathLike,
        max_events: int = 200_000,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
    ):
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self.max_events = max_events
        self.synchronous = synchronous
        self.recovered_from: Path | None = None
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            # A file that is not a database (torn copy, disk error) must not keep
            # the lane from publishing: move it aside for forensics, start fresh.
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error("outbox %s is unreadable (%s); moved aside to %s", self.path, exc, aside)
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    src.rename(str(aside) + suffix)
            self.recovered_from = aside
            self._db = self._open()
        self._depth = self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                log.warning("outbox %s: journal_mode is %s, not wal", self.path, mode)
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.executescript(_SCHEMA)
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    # -- writer side -------------------------------------------------------

    def put(self, envelope: Envelope) -> int:
        """Store one envelope (durably, see module doc) and return its row id."""
        return self.put_payload(envelope.event_id, to_json(envelope.to_dict()))

    def put_payload(self, event_id: str, payload: bytes) -> int:
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                drop = rows_to_drop(self._depth, self.max_events)
                if drop:
                    db.execute(
                        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT "
                        "?)",
                        (drop,),
                    )
                    db.execute(
                        "UPDATE meta SET value = value + ? WHERE key = 'dropped_total'", (drop,)
                    )
                row_id = db.execute(
                    "INSERT INTO outbox (event_id, payload) VALUES (?, ?)", (event_id, payload)
                ).lastrowid
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if drop:
                log.warning("outbox full (%d): dropped %d oldest event(s)", self.max_events, drop)
            self._depth += 1 - drop
            assert row_id is not None  # an INSERT always has a row id
            return int(row_id)

    # -- publisher side ----------------------------------------------------

    def pending(self, limit: int = 100, after_id: int = 0) -> list[OutboxRow]:
        """Oldest first: the rows still waiting for a PUBACK, after ``after_id``."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, event_id, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after_id, limit),
            ).fetchall()
        return [OutboxRow(r[0], r[1], bytes(r[2])) for r in rows]

    def ack(self, row_id: int) -> bool:
        """The broker has the event (PUBACK): forget it. False if it was already gone."""
        return self.ack_many([row_id]) == 1

    def ack_many(self, row_ids: Iterable[int]) -> int:
        ids = list(row_ids)
        if not ids:
            return 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                gone = 0
                for start in range(0, len(ids), 500):
                    chunk = ids[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    gone += db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk).rowcount
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._depth -= gone
            return gone

    # -- gauges --------------------------------------------------------------

    def depth(self) -> int:
        with self._lock:
            return self._depth

    @property
    def dropped_total(self) -> int:
        with self._lock:
            return int(
                self._db.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone()[0]
            )

    def close(self) -> None:
        with self._lock:
            try:
                self._db.close()
            except sqlite3.Error:  # closing twice, or a dying disk: nothing left to save
                pass

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
