"""Which valid requests run: each ``request_id`` once, each command within its rate.

A kiosk publishes at QoS 1 and retries when no answer comes, so the same
request can arrive twice; the second must not open a second basket or add
the line twice. A flood (a stuck button, a script, an attacker on the store
network) must not keep the lane or its light busy. ``RequestGate`` decides
both, from the time it is given (the lane clock), and keeps the counts that
``stats`` publishes.

>>> gate = RequestGate({"light/test": RateLimit(burst=1, per_s=0.2)})
>>> gate.admit("light/test", "a", now=0.0)
Run()
>>> gate.record("light/test", "a", Answer(data={"queued": True}), now=0.0)
>>> gate.admit("light/test", "a", now=1.0)  # a retry: the first answer again
Repeat(answer=Answer(data={'queued': True}, error=None))
>>> gate.admit("light/test", "b", now=1.0)  # a new request within 5 s of the last
Limited(error='rate limited: light/test allows 1 per 5 s (burst 1); retry in 4.0 s')
>>> gate.admit("light/test", "b", now=5.0)
Run()
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from edge_app.store_link.commands import (
    DEDUP_MAX_IDS,
    DEDUP_WINDOW_S,
    CommandHandler,
    Request,
    RequestRefused,
)


@dataclass(frozen=True)
class RateLimit:
    """A token bucket: ``burst`` requests at once, refilled at ``per_s`` a second."""

    burst: int
    per_s: float

    def describe(self) -> str:
        every = 1.0 / self.per_s
        return f"1 per {every:g} s" if every >= 1 else f"{self.per_s:g} per s"


#: per command: generous for a real kiosk, tight where a request costs (the lamps, reading config)
DEFAULT_LIMITS: dict[str, RateLimit] = {
    "transaction/start": RateLimit(burst=10, per_s=1.0),
    "transaction/end": RateLimit(burst=10, per_s=1.0),
    "payment/start": RateLimit(burst=10, per_s=1.0),
    "item/add": RateLimit(burst=30, per_s=5.0),
    "item/void": RateLimit(burst=30, per_s=5.0),
    "review/clear": RateLimit(burst=10, per_s=1.0),
    "snapshot": RateLimit(burst=3, per_s=0.1),
    "config/reload": RateLimit(burst=3, per_s=0.05),
    "light/test": RateLimit(burst=1, per_s=0.2),  # the test pattern lasts 5 s
}


@dataclass(frozen=True)
class Answer:
    """What an executed request answered: its data, or the error text of its response."""

    data: dict | None = None
    error: str | None = None


@dataclass(frozen=True)
class Run:
    """Execute it."""


@dataclass(frozen=True)
class Repeat:
    """Already executed within the window: answer as the first time, run nothing."""

    answer: Answer


@dataclass(frozen=True)
class Limited:
    """Over its command's rate: refuse with ``error``, run nothing."""

    error: str


class _Bucket:
    def __init__(self, limit: RateLimit):
        self.limit = limit
        self.tokens = float(limit.burst)
        self.at: float | None = None

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one is there."""
        if self.at is not None:
            elapsed = max(0.0, now - self.at)  # a clock that steps back refills nothing
            self.tokens = min(float(self.limit.burst), self.tokens + elapsed * self.limit.per_s)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.limit.per_s


class RequestGate:
    """De-duplicates request ids and rate-limits each command (pure: time comes in ``now``)."""

    def __init__(
        self,
        limits: Mapping[str, RateLimit] = DEFAULT_LIMITS,
        *,
        window_s: float = DEDUP_WINDOW_S,
        max_ids: int = DEDUP_MAX_IDS,
    ):
        self.limits = dict(limits)
        self.window_s = window_s
        self.max_ids = max(1, max_ids)
        self._buckets = {name: _Bucket(limit) for name, limit in self.limits.items()}
        #: (command, request_id) -> (when executed, its answer), oldest first
        self._seen: OrderedDict[tuple[str, str], tuple[float, Answer]] = OrderedDict()
        self.executed_total = 0
        self.duplicates_total = 0
        #: per command, pre-filled so a reader on another thread never sees the dict grow
        self.rate_limited = dict.fromkeys(self.limits, 0)

    def admit(self, command: str, request_id: str, now: float) -> Run | Repeat | Limited:
        """Decide one valid request; a ``Run`` has used one of its command's tokens."""
        self._forget(now)
        seen = self._seen.get((command, request_id))
        if seen is not None:
            self.duplicates_total += 1
            return Repeat(seen[1])
        bucket = self._buckets.get(command)
        wait = bucket.take(now) if bucket is not None else 0.0
        if wait > 0.0 and bucket is not None:
            self.rate_limited[command] += 1
            return Limited(
                f"rate limited: {command} allows {bucket.limit.describe()} "
                f"(burst {bucket.limit.burst}); retry in {wait:.1f} s"
            )
        self.executed_total += 1
        return Run()

    def record(self, command: str, request_id: str, answer: Answer, now: float) -> None:
        """Remember what an executed request answered, for its repeats."""
        self._seen[(command, request_id)] = (now, answer)
        self._seen.move_to_end((command, request_id))
        while len(self._seen) > self.max_ids:
            self._seen.popitem(last=False)

    def _forget(self, now: float) -> None:
        while self._seen:
            at, _ = next(iter(self._seen.values()))
            if now - at < self.window_s:
                return
            self._seen.popitem(last=False)

    def stats(self) -> dict:
        """The counts for ``stats``: executed, repeats answered again, refused per command."""
        return {
            "executed_total": self.executed_total,
            "duplicates_total": self.duplicates_total,
            "rate_limited_total": sum(self.rate_limited.values()),
            "rate_limited": dict(self.rate_limited),
        }


class GatedHandler:
    """A command handler behind a ``RequestGate`` (the shell: the clock, the lock, the call).

    ``handler(name, request)`` runs only for a ``Run``; its data or error is
    remembered, so a repeat gets the same response body. Refusals raise
    ``RequestRefused``, which ``commands.dispatch`` turns into the error response.
    """

    def __init__(
        self,
        handler: CommandHandler,
        clock: Callable[[], float],
        gate: RequestGate | None = None,
    ):
        self.handler = handler
        self.clock = clock
        self.gate = gate or RequestGate()
        self._lock = threading.Lock()  # paho's thread decides, the lane thread reads stats

    def __call__(self, name: str, request: Request) -> dict | None:
        request_id = request.request_id
        with self._lock:
            verdict = self.gate.admit(name, request_id, self.clock())
        if isinstance(verdict, Limited):
            raise RequestRefused(verdict.error)
        if isinstance(verdict, Repeat):
            if verdict.answer.error is not None:
                raise RequestRefused(verdict.answer.error)
            return dict(verdict.answer.data or {})
        try:
            data = self.handler(name, request)
        except Exception as exc:  # remembered as dispatch words it, then handed on to dispatch
            self._record(name, request_id, Answer(error=f"{type(exc).__name__}: {exc}"))
            raise
        if data is None or isinstance(data, dict):  # anything else is dispatch's error to report
            self._record(name, request_id, Answer(data=dict(data or {})))
        return data

    def _record(self, name: str, request_id: str, answer: Answer) -> None:
        with self._lock:
            self.gate.record(name, request_id, answer, self.clock())

    def stats(self) -> dict:
        with self._lock:
            return self.gate.stats()
