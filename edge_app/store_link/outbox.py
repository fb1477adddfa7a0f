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

A full disk, a read-only file, a disk I/O error: ``put`` never fails. The
envelope waits in a bounded memory queue (``memory_max``; beyond it the
oldest wait is dropped and counted) behind everything already on disk, and
is written, in order, by a later ``put`` or ``flush_pending`` once the disk
takes it again (backing off ``RETRY_S`` between tries). Row ids are handed
out here, not by SQLite, so a row keeps its id from memory to disk: the
pump sends disk rows then memory rows in one id order (== seq order), and a
PUBACK deletes the row wherever it is. An ack the disk cannot take is kept
in memory and applied with the next write. ``health()`` names the cause for
``status/outbox``.

Why the WAL is kept small and a reserve file exists: SQLite's default
checkpoint (4 MB of WAL) never runs on a 2 MB filesystem, and once a disk is
full a checkpoint cannot even copy the committed WAL pages into the database
file, so not even the deletes that would free space can be written. So: a
checkpoint every ``WAL_AUTOCHECKPOINT_PAGES``, ``journal_size_limit``,
``auto_vacuum=INCREMENTAL`` (the file shrinks once the queue drains), and
``<outbox>-reserve``, a few hundred KB given back to the filesystem the
first time a write fails for space (then a TRUNCATE checkpoint), so the
outbox can always delete its way out; it is re-made once writes succeed.

At start only a file SQLite itself calls corrupt (``SQLITE_CORRUPT``,
``SQLITE_NOTADB``, ``PRAGMA quick_check``) is moved aside, and every row
still readable in it is copied, in order, into the new outbox
(``salvaged_total``). A full disk or a read-only file renames nothing: the
rows are read (read-only, or ``immutable`` when the disk cannot even hold the
shared-memory file), new events wait in memory, and the file is re-opened
for writing on a later ``flush_pending``.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import quote

from edge_app.events import ComponentState, Envelope
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

#: checkpoint the WAL every this many pages (SQLite's default, 1000, is 4 MB)
WAL_AUTOCHECKPOINT_PAGES = 32
#: a checkpointed WAL is cut back to this size
JOURNAL_SIZE_LIMIT = 256 * 1024
#: bytes kept in ``<outbox>-reserve`` and given back when the disk is full
RESERVE_BYTES = 256 * 1024
#: seconds between tries to write to a disk that refused
RETRY_S = 1.0
#: seconds between housekeeping runs (vacuum free pages, re-make the reserve)
MAINTAIN_S = 5.0
#: rows per transaction when memory is written out (keeps each WAL write small)
FLUSH_CHUNK = 64
#: acked rows deleted per transaction (a full disk has room for small WAL writes only)
ACK_CHUNK = 200
#: free pages tolerated before an incremental vacuum gives them back
VACUUM_SLACK_PAGES = 64

Mode = Literal["rw", "ro", "none"]
T = TypeVar("T")


class _Corrupt(sqlite3.DatabaseError):
    """``PRAGMA quick_check`` did not say ok."""


#: SQLite's primary result codes (sqlite3.SQLITE_* only exists from Python 3.11)
_CAUSES = {
    13: "disk full",  # SQLITE_FULL
    10: "disk I/O error",  # SQLITE_IOERR (and its extended codes)
    8: "read-only",  # SQLITE_READONLY
    14: "cannot open",  # SQLITE_CANTOPEN
    3: "permission denied",  # SQLITE_PERM
    11: "corrupt",  # SQLITE_CORRUPT
    26: "corrupt",  # SQLITE_NOTADB
    5: "busy",  # SQLITE_BUSY
    6: "busy",  # SQLITE_LOCKED
}
#: the same, by message, for Python 3.10 (no ``sqlite_errorcode``)
_MESSAGES = {
    "database or disk is full": "disk full",
    "disk i/o error": "disk I/O error",
    "readonly database": "read-only",
    "unable to open database": "cannot open",
    "malformed": "corrupt",
    "file is not a database": "corrupt",
    "is locked": "busy",
}


def cause_of(exc: BaseException) -> str:
    """What a SQLite error means for the outbox, in words.

    >>> cause_of(sqlite3.OperationalError("database or disk is full"))
    'disk full'
    >>> cause_of(sqlite3.DatabaseError("file is not a database")), cause_of(ValueError())
    ('corrupt', 'error')
    """
    if isinstance(exc, _Corrupt):
        return "corrupt"
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return _CAUSES.get(code & 0xFF, "error")
    text = str(exc).lower()
    return next((cause for part, cause in _MESSAGES.items() if part in text), "error")


def is_corrupt(exc: BaseException) -> bool:
    """Only what SQLite itself calls corrupt may make us move a file aside."""
    return cause_of(exc) == "corrupt"


def rows_to_drop(depth: int, max_events: int, adding: int = 1) -> int:
    """How many oldest rows must go so that ``adding`` more fit (the drop policy).

    >>> rows_to_drop(3, 5), rows_to_drop(5, 5), rows_to_drop(9, 5), rows_to_drop(3, 5, 4)
    (0, 1, 5, 2)
    """
    return max(0, depth + adding - max_events)


@dataclass(frozen=True)
class OutboxHealth:
    """What ``status/outbox`` says about the disk side; ``cause`` is None when all is well."""

    status: ComponentState
    cause: str | None = None
    detail: str = ""


def outbox_health(
    fault: str | None, mode: Mode, path: Path | str, waiting: int, dropped: int
) -> OutboxHealth:
    """The outbox's health from its state (pure).

    >>> outbox_health(None, "rw", "o.db", 0, 0).status
    'ok'
    >>> outbox_health("disk full", "rw", "/s/o.db", 3, 0).detail
    'disk full: /s/o.db (3 events waiting in memory)'
    >>> outbox_health(None, "ro", "o.db", 1, 2).detail
    'read-only: o.db (1 event waiting in memory, 2 dropped)'
    """
    if fault is None and mode == "rw":
        return OutboxHealth("ok")
    cause = fault or ("read-only" if mode == "ro" else "cannot open")
    noun = "event" if waiting == 1 else "events"
    lost = f", {dropped} dropped" if dropped else ""
    return OutboxHealth(
        "degraded", cause, f"{cause}: {path} ({waiting} {noun} waiting in memory{lost})"
    )


@dataclass(frozen=True)
class OutboxRow:
    row_id: int
    event_id: str
    payload: bytes


def _readable_from(db: sqlite3.Connection, after: int) -> int | None:
    """The smallest id bound past ``after`` from which SQLite reads again (None: none).

    Doubling then bisecting: a corrupt page costs a few dozen probes, and only
    the rows on it are lost.
    """

    def readable(bound: int) -> bool:
        try:
            db.execute("SELECT id FROM outbox WHERE id > ? ORDER BY id LIMIT 1", (bound,))
            return True
        except sqlite3.DatabaseError:
            return False

    step = 1
    while not readable(after + step):
        step *= 2
        if step > 1 << 62:
            return None
    lo, hi = after + step // 2, after + step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if readable(mid) else (mid, hi)
    return hi


def salvage_rows(db: sqlite3.Connection, batch: int = 256) -> Iterator[tuple[int, str, bytes]]:
    """Every row of a damaged outbox that SQLite can still read, oldest first."""
    after = 0
    while True:
        got = 0
        try:
            for row_id, event_id, payload in db.execute(
                "SELECT id, event_id, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                (after, batch),
            ):
                got += 1
                if isinstance(row_id, int) and row_id > after:
                    after = row_id
                    if isinstance(event_id, str) and isinstance(payload, bytes):
                        yield row_id, event_id, payload
        except sqlite3.DatabaseError:
            nxt = _readable_from(db, after)
            if nxt is None:
                return
            after = nxt
            continue
        if got < batch:
            return


class Outbox:
    """Thread-safe: one connection behind one lock; every method is one short transaction."""

    def __init__(
        self,
        path: str | os.PathLike,
        max_events: int = 200_000,
        *,
        synchronous: Literal["FULL", "NORMAL"] = "FULL",
        memory_max: int = 10_000,
        reserve_bytes: int = RESERVE_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ):
        if max_events < 1 or memory_max < 1:
            raise ValueError("max_events and memory_max must be at least 1")
        if synchronous not in ("FULL", "NORMAL"):
            raise ValueError("synchronous must be FULL or NORMAL")
        self.path = Path(path)
        self.max_events = max_events
        self.memory_max = memory_max
        self.synchronous = synchronous
        self.reserve_path = Path(f"{self.path}-reserve")
        self.reserve_bytes = reserve_bytes
        self._clock = clock
        self.recovered_from: Path | None = None
        #: bumped when rows below ids already handed out appear (a file readable only now)
        self.epoch = 0
        #: events dropped from the memory queue (its bound), this process
        self.memory_dropped_total = 0
        #: events written to disk after waiting in memory
        self.persisted_late_total = 0
        #: rows copied out of a corrupt file at start
        self.salvaged_total = 0
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._mode: Mode = "none"
        self._fault: str | None = None
        self._retry_at = 0.0
        self._maintain_at = 0.0
        self._memory: dict[int, tuple[str, bytes]] = {}  # id -> row, oldest first
        self._unsaved_acks: set[int] = set()  # acked disk rows the disk could not delete yet
        self._unsaved_drops = 0  # drops not yet added to meta
        self._disk_rows = 0
        self._dropped_persisted = 0
        self._next_id = 1
        with contextlib.suppress(OSError):  # a read-only or full parent is reported below
            self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._start()

    # -- opening -------------------------------------------------------------

    def _start(self) -> None:
        try:
            db = self._with_room(self._open_rw, release=True)  # full at start: the reserve goes
        except sqlite3.Error as exc:
            if is_corrupt(exc):
                self._recover_corrupt(exc)
                return
            self._fault = self._cause(exc)
            log.error(
                "outbox %s cannot be written (%s: %s); new events wait in memory",
                self.path,
                self._fault,
                exc,
            )
            self._retry_at = self._clock() + RETRY_S
            self._open_readonly()
            return
        self._attach(db, "rw")
        self._ensure_reserve()

    def _open_rw(self, check: bool = True) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=5.0)
        try:
            db.execute("PRAGMA auto_vacuum=INCREMENTAL")  # only takes on a new file
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                log.warning("outbox %s: journal_mode is %s, not wal", self.path, mode)
            db.execute(f"PRAGMA synchronous={self.synchronous}")
            db.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
            db.execute(f"PRAGMA journal_size_limit={JOURNAL_SIZE_LIMIT}")
            db.executescript(_SCHEMA)
            if check:
                # quick_check: integrity_check less the index cross-checks (we have none)
                verdict = db.execute("PRAGMA quick_check").fetchall()
                if verdict != [("ok",)]:
                    raise _Corrupt("; ".join(str(r[0]) for r in verdict[:3]))
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _open_readonly(self) -> None:
        """Read the rows that are there (to send them) when the file cannot be written."""
        self._db, self._mode = None, "none"
        if not self.path.exists():
            return
        uri = f"file:{quote(str(self.path))}"
        wal = Path(f"{self.path}-wal")
        tries = [f"{uri}?mode=ro"]
        if not wal.exists() or wal.stat().st_size == 0:
            tries.append(f"{uri}?immutable=1")  # nothing in a WAL to miss: no -shm needed
        for target in tries:
            try:
                db = sqlite3.connect(target, uri=True, check_same_thread=False, timeout=5.0)
            except sqlite3.Error:
                continue
            try:
                self._attach(db, "ro")
            except sqlite3.Error:
                db.close()
                continue
            log.warning(
                "outbox %s opened read-only: %d event(s) to send", self.path, self._disk_rows
            )
            return

    def _attach(self, db: sqlite3.Connection, mode: Mode) -> None:
        """Use ``db`` from now on; keep memory rows after (and ids above) every disk row."""
        disk_rows = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
        top = db.execute(
            "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0),"
            " COALESCE((SELECT MAX(id) FROM outbox), 0))"
        ).fetchone()[0]
        with contextlib.suppress(sqlite3.Error):  # an old file may lack meta
            row = db.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone()
            self._dropped_persisted = int(row[0]) if row else 0
        unseen = self._mode == "none"
        self._db, self._mode, self._disk_rows = db, mode, disk_rows
        if self._memory and min(self._memory) <= top:
            rows = list(self._memory.values())
            self._memory = {top + 1 + i: row for i, row in enumerate(rows)}
            self.epoch += 1  # ids handed out change: the pump starts over
        elif unseen and disk_rows and self._next_id > 1:
            self.epoch += 1  # rows older than what was sent: the pump starts over
        self._next_id = max(self._next_id, top + 1, max(self._memory, default=0) + 1)

    def _recover_corrupt(self, exc: BaseException) -> None:
        """Move a corrupt file aside and copy its readable rows, in order, into a new one."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
        log.error("outbox %s is corrupt (%s); moving it aside to %s", self.path, exc, aside)
        try:
            for suffix in ("", "-wal", "-shm"):
                src = Path(str(self.path) + suffix)
                if src.exists():
                    src.rename(str(aside) + suffix)
        except OSError as err:
            self._fault = "corrupt"
            log.error("outbox %s cannot be moved aside (%s); events wait in memory", self.path, err)
            return
        self.recovered_from = aside
        try:
            self._attach(self._open_rw(), "rw")
        except sqlite3.Error as err:
            self._fault = self._cause(err)
            self._retry_at = self._clock() + RETRY_S
        self._salvage(aside)
        self._ensure_reserve()

    def _salvage(self, aside: Path) -> None:
        try:
            old = sqlite3.connect(aside, isolation_level=None)
        except sqlite3.Error:
            return
        try:
            with contextlib.suppress(sqlite3.Error):
                row = old.execute("SELECT value FROM meta WHERE key = 'dropped_total'").fetchone()
                self._unsaved_drops += int(row[0]) if row else 0
            rows = salvage_rows(old)
            while chunk := list(itertools.islice(rows, FLUSH_CHUNK)):
                for row_id, event_id, payload in chunk:
                    self._memory[row_id] = (event_id, payload)
                    self._next_id = max(self._next_id, row_id + 1)
                    self.salvaged_total += 1
                self._bound_memory()
                self._persist(count_late=False)
        finally:
            old.close()
        log.warning("outbox: salvaged %d event(s) from %s", self.salvaged_total, aside)

    # -- writer side -------------------------------------------------------

    def put(self, envelope: Envelope) -> int:
        """Store one envelope (durably, see module doc) and return its row id.

        Never fails on a disk error: the envelope then waits in memory.
        """
        return self.put_payload(envelope.event_id, to_json(envelope.to_dict()))

    def put_payload(self, event_id: str, payload: bytes) -> int:
        with self._lock:
            row_id = self._next_id
            self._next_id += 1
            self._memory[row_id] = (event_id, payload)
            self._bound_memory()
            if self._may_write(self._clock()):
                self._persist(fresh=row_id)
            return row_id

    def flush_pending(self, force: bool = False) -> int:
        """Retry what the disk refused: re-open, write memory rows and acks, housekeeping.

        Cheap when all is well; call it from periodic work. ``force`` ignores the
        back-off. Returns how many memory rows reached the disk.
        """
        with self._lock:
            now = self._clock()
            # a corrupt file that could not be moved aside is never written again
            if self._mode != "rw" and self._fault != "corrupt" and (force or now >= self._retry_at):
                self._reopen()
            written = 0
            if self._may_write(now, force) and (self._has_unsaved() or self._fault is not None):
                written = self._persist()
            if self._mode == "rw" and self._fault is None and (force or now >= self._maintain_at):
                self._maintain_at = now + MAINTAIN_S
                self._maintain()
            return written

    def _reopen(self) -> None:
        try:
            db = self._open_rw(check=False)
        except sqlite3.Error as exc:
            self._failed(exc)
            return
        old = self._db
        try:
            self._attach(db, "rw")
        except sqlite3.Error as exc:
            db.close()
            self._failed(exc)
            return
        if old is not None:
            old.close()
        log.warning("outbox %s is writable again", self.path)

    def _may_write(self, now: float, force: bool = False) -> bool:
        return self._mode == "rw" and (self._fault is None or force or now >= self._retry_at)

    def _has_unsaved(self) -> bool:
        return bool(self._memory or self._unsaved_acks or self._unsaved_drops)

    def _bound_memory(self) -> None:
        while len(self._memory) > self.memory_max:
            del self._memory[next(iter(self._memory))]
            self.memory_dropped_total += 1
            self._unsaved_drops += 1
            if self.memory_dropped_total in (1, 10, 100) or self.memory_dropped_total % 1000 == 0:
                log.error(
                    "outbox memory queue full (%d, disk: %s): %d oldest event(s) dropped so far",
                    self.memory_max,
                    self._fault,
                    self.memory_dropped_total,
                )

    def _persist(self, fresh: int | None = None, count_late: bool = True) -> int:
        """Write memory rows (oldest first, in chunks), unsaved acks and drops; never raises.

        With nothing to write it still writes (the meta page): a real probe that
        the disk takes writes again.
        """
        if self._mode != "rw":
            return 0
        written = 0
        try:  # deletes first: they make the room the inserts need
            self._delete_acked(sorted(self._unsaved_acks))
        except sqlite3.Error as exc:
            self._failed(exc)
            return 0
        while True:
            chunk = list(itertools.islice(self._memory.items(), min(FLUSH_CHUNK, self.max_events)))
            try:
                self._with_room(functools.partial(self._write, chunk), release=False)
            except sqlite3.Error as exc:
                self._failed(exc)
                return written
            for row_id, _ in chunk:
                del self._memory[row_id]
                if count_late and row_id != fresh:
                    self.persisted_late_total += 1
            written += len(chunk)
            if not self._memory:
                break
        self._recovered()
        return written

    def _write(self, rows: list[tuple[int, tuple[str, bytes]]]) -> None:
        """One transaction: pending acks, the drop policy, then ``rows`` with their own ids."""
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            acked = self._delete(db, self._unsaved_acks)
            drop = rows_to_drop(self._disk_rows - acked, self.max_events, len(rows))
            dropped = 0
            if drop:
                dropped = db.execute(
                    "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT ?)",
                    (drop,),
                ).rowcount
            counted = dropped + self._unsaved_drops
            if counted or not (rows or acked):
                db.execute(
                    "UPDATE meta SET value = value + ? WHERE key = 'dropped_total'", (counted,)
                )
            db.executemany(
                "INSERT INTO outbox (id, event_id, payload) VALUES (?, ?, ?)",
                [(row_id, ev, body) for row_id, (ev, body) in rows],
            )
            db.execute("COMMIT")
        except BaseException:
            self._rollback(db)
            raise
        if dropped:
            log.warning("outbox full (%d): dropped %d oldest event(s)", self.max_events, dropped)
        self._disk_rows += len(rows) - acked - dropped
        self._unsaved_acks.clear()
        self._dropped_persisted += counted
        self._unsaved_drops = 0

    @staticmethod
    def _delete(db: sqlite3.Connection, ids: Iterable[int]) -> int:
        ids = list(ids)
        gone = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            gone += db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk).rowcount
        return gone

    @staticmethod
    def _rollback(db: sqlite3.Connection) -> None:
        # SQLite has already rolled back after SQLITE_FULL: a second ROLLBACK would
        # raise "no transaction is active" and hide the real error.
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")

    def _with_room(self, write: Callable[[], T], release: bool) -> T:
        """Run a write; if the disk is out of room, checkpoint (and give the reserve back), retry once.

        Only what frees space (deletes, opening) may use the reserve: inserts
        would eat it and leave no room for the acks that drain the queue.
        """
        try:
            return write()
        except sqlite3.Error as exc:
            if self._cause(exc) not in ("disk full", "disk I/O error"):
                raise
            self._make_room(release)
            return write()

    def _make_room(self, release: bool) -> None:
        with contextlib.suppress(OSError):
            if release:
                size = self.reserve_path.stat().st_size
                self.reserve_path.unlink()
                log.warning("outbox: disk full, gave back the %d-byte reserve", size)
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()

    def _failed(self, exc: sqlite3.Error) -> None:
        cause = self._cause(exc)
        if cause != self._fault:
            log.error(
                "outbox %s write failed (%s: %s); %d event(s) wait in memory",
                self.path,
                cause,
                exc,
                len(self._memory),
            )
        self._fault = cause
        self._retry_at = self._clock() + RETRY_S
        if cause == "read-only" and self._mode == "rw":
            self._mode = "ro"  # SQLite opened the file read-only: re-open it once it is writable

    def _recovered(self) -> None:
        if self._fault is not None:
            log.warning(
                "outbox %s writable again: %d event(s) persisted late so far",
                self.path,
                self.persisted_late_total,
            )
        self._fault = None

    def _cause(self, exc: sqlite3.Error) -> str:
        cause = cause_of(exc)
        if cause == "disk I/O error" and self._free_bytes() < 16 * 1024:
            return "disk full"  # SQLite says I/O error when even the -shm file cannot grow
        return cause

    def _free_bytes(self) -> int:
        try:
            st = os.statvfs(self.path.parent)
        except OSError:
            return 1 << 62
        return st.f_bavail * st.f_frsize

    # -- housekeeping ----------------------------------------------------------

    def _maintain(self) -> None:
        """Give free pages back once the queue drained, and keep the reserve in place."""
        db = self._db
        assert db is not None
        try:
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            if free > VACUUM_SLACK_PAGES:
                if db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
                    db.executescript("PRAGMA incremental_vacuum;")  # script: runs to the end
                elif self._disk_rows == 0:  # a file from before auto_vacuum: convert it while empty
                    db.execute("PRAGMA auto_vacuum=INCREMENTAL")
                    db.execute("VACUUM")
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            log.debug("outbox housekeeping: %s", exc)
        self._ensure_reserve()

    def _ensure_reserve(self) -> None:
        if self.reserve_bytes <= 0 or self._mode != "rw":
            return
        try:
            if self.reserve_path.stat().st_size >= self.reserve_bytes:
                return
        except OSError:
            pass
        try:
            fd = os.open(self.reserve_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                block = b"\0" * 65536
                for start in range(0, self.reserve_bytes, len(block)):
                    os.write(fd, block[: self.reserve_bytes - start])
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.reserve_path.unlink()
            log.debug("outbox reserve %s not made: %s", self.reserve_path, exc)

    # -- publisher side ----------------------------------------------------

    def pending(self, limit: int = 100, after_id: int = 0) -> list[OutboxRow]:
        """Oldest first: the rows still waiting for a PUBACK, after ``after_id``.

        Disk rows come first, then memory rows: every memory row is newer.
        """
        with self._lock:
            rows, disk_done = self._pending_on_disk(limit, after_id)
            if disk_done and len(rows) < limit:
                newer = ((k, v) for k, v in self._memory.items() if k > after_id)
                for row_id, (event_id, payload) in itertools.islice(newer, limit - len(rows)):
                    rows.append(OutboxRow(row_id, event_id, payload))
            return rows

    def _pending_on_disk(self, limit: int, after_id: int) -> tuple[list[OutboxRow], bool]:
        """Disk rows after ``after_id``, and whether the disk has no more of them."""
        rows: list[OutboxRow] = []
        if self._db is None:
            return rows, True
        while len(rows) < limit:
            ask = limit - len(rows) + min(len(self._unsaved_acks), 1000)
            try:
                batch = self._db.execute(
                    "SELECT id, event_id, payload FROM outbox WHERE id > ? ORDER BY id LIMIT ?",
                    (after_id, ask),
                ).fetchall()
            except sqlite3.Error as exc:
                log.warning("outbox %s cannot be read: %s", self.path, exc)
                return rows, False
            rows += [
                OutboxRow(r[0], r[1], bytes(r[2])) for r in batch if r[0] not in self._unsaved_acks
            ]
            if len(batch) < ask:
                return rows[:limit], True
            after_id = batch[-1][0]
        return rows[:limit], False

    def ack(self, row_id: int) -> bool:
        """The broker has the event (PUBACK): forget it. False if it was already gone."""
        return self.ack_many([row_id]) == 1

    def ack_many(self, row_ids: Iterable[int]) -> int:
        with self._lock:
            gone = 0
            on_disk = []
            for row_id in row_ids:
                if self._memory.pop(row_id, None) is not None:
                    gone += 1  # delivered before it ever reached the disk
                elif row_id not in self._unsaved_acks:
                    on_disk.append(row_id)
            if not on_disk or self._db is None:
                return gone
            if self._mode == "rw":  # no back-off: deletes are how a full disk drains
                try:
                    self._delete_acked(sorted(self._unsaved_acks))
                    return gone + self._delete_acked(on_disk)
                except sqlite3.Error as exc:
                    self._failed(exc)
            there = self._existing(on_disk)
            self._unsaved_acks.update(there)
            return gone + len(there)

    def _delete_acked(self, ids: list[int]) -> int:
        """Delete acked rows, ``ACK_CHUNK`` per transaction (a small WAL write each).

        Raises on the first chunk the disk refuses; the chunks before it are gone.
        """
        gone = 0
        for start in range(0, len(ids), ACK_CHUNK):
            chunk = ids[start : start + ACK_CHUNK]
            n = self._with_room(functools.partial(self._delete_txn, chunk), release=True)
            self._disk_rows -= n
            self._unsaved_acks.difference_update(chunk)
            gone += n
        return gone

    def _delete_txn(self, ids: list[int]) -> int:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            gone = self._delete(db, ids)
            db.execute("COMMIT")
        except BaseException:
            self._rollback(db)
            raise
        return gone

    def _existing(self, ids: list[int]) -> set[int]:
        assert self._db is not None
        found: set[int] = set()
        try:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found.update(
                    r[0]
                    for r in self._db.execute(f"SELECT id FROM outbox WHERE id IN ({marks})", chunk)
                )
        except sqlite3.Error:
            return set(ids)
        return found

    # -- gauges --------------------------------------------------------------

    def depth(self) -> int:
        """Events waiting for a PUBACK, on disk and in memory."""
        with self._lock:
            return max(0, self._disk_rows - len(self._unsaved_acks)) + len(self._memory)

    def memory_depth(self) -> int:
        with self._lock:
            return len(self._memory)

    @property
    def dropped_total(self) -> int:
        """Every event dropped (the disk bound and the memory bound), this process and before."""
        with self._lock:
            return self._dropped_persisted + self._unsaved_drops

    def health(self) -> OutboxHealth:
        with self._lock:
            return outbox_health(
                self._fault, self._mode, self.path, len(self._memory), self.memory_dropped_total
            )

    def counters(self) -> dict[str, int]:
        """The outbox fields of the ``stats`` payload."""
        depth = self.depth()
        with self._lock:
            return {
                "outbox_depth": depth,
                "outbox_dropped_total": self._dropped_persisted + self._unsaved_drops,
                "outbox_memory_queued": len(self._memory),
                "outbox_memory_dropped_total": self.memory_dropped_total,
                "outbox_persisted_late_total": self.persisted_late_total,
                "outbox_salvaged_total": self.salvaged_total,
            }

    def close(self) -> None:
        with self._lock:
            if self._has_unsaved() and self._mode == "rw":
                self._persist()
            if self._memory:
                log.error(
                    "outbox %s closing with %d event(s) only in memory (%s): they are lost",
                    self.path,
                    len(self._memory),
                    self._fault,
                )
            if self._db is not None:
                try:
                    self._db.close()
                except sqlite3.Error:  # closing twice, or a dying disk: nothing left to save
                    pass

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
