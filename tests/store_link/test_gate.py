"""The request gate: each request_id runs once within the window, each command within its rate."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from edge_app.store_link.commands import COMMANDS, dispatch
from edge_app.store_link.gate import (
    DEFAULT_LIMITS,
    Answer,
    GatedHandler,
    Limited,
    RateLimit,
    RequestGate,
    Run,
)


class Clock:
    def __init__(self, t: float = 0.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def body(obj) -> bytes:
    return json.dumps(obj).encode()


def gated(calls: list, clock: Clock, gate: RequestGate | None = None, fail: bool = False):
    def handler(name, request):
        calls.append((name, request.request_id))
        if fail:
            raise ValueError("lane file does not parse")
        return {"queued": True, "n": len(calls)}

    return GatedHandler(handler, clock, gate)


def test_every_command_has_a_default_rate_limit():
    assert set(DEFAULT_LIMITS) == set(COMMANDS)
    assert all(lim.burst >= 1 and lim.per_s > 0 for lim in DEFAULT_LIMITS.values())


def test_a_repeated_request_id_runs_once_and_gets_the_first_response_again():
    """A kiosk's QoS 1 retry of transaction/start was executed twice."""
    calls: list = []
    clock = Clock(10.0)
    handler = gated(calls, clock)
    req = body({"request_id": "k-1", "transaction_id": "T-1"})
    first = dispatch("transaction/start", req, handler)
    clock.t = 12.0
    again = dispatch("transaction/start", req, handler)
    assert calls == [("transaction/start", "k-1")]
    assert first.ok and again.ok and again.body == first.body
    assert handler.stats()["duplicates_total"] == 1


def test_the_same_id_on_another_command_is_another_request():
    calls: list = []
    handler = gated(calls, Clock())
    dispatch("transaction/start", body({"request_id": "1", "transaction_id": "T"}), handler)
    dispatch("payment/start", body({"request_id": "1", "transaction_id": "T"}), handler)
    assert [c[0] for c in calls] == ["transaction/start", "payment/start"]


def test_a_repeat_of_a_failed_request_gets_the_same_error_without_running_it_again():
    calls: list = []
    handler = gated(calls, Clock(), fail=True)
    first = dispatch("config/reload", body({"request_id": "ops-1"}), handler)
    again = dispatch("config/reload", body({"request_id": "ops-1"}), handler)
    assert len(calls) == 1
    assert not first.ok and again.body == first.body
    assert "ValueError: lane file does not parse" in json.loads(again.body)["error"]


def test_a_request_over_its_rate_is_refused_counted_and_may_be_retried_later():
    calls: list = []
    clock = Clock(100.0)
    handler = gated(calls, clock)
    replies = [dispatch("light/test", body({"request_id": f"t-{i}"}), handler) for i in range(1000)]
    assert [r.ok for r in replies].count(True) == 1 and len(calls) == 1
    error = json.loads(replies[1].body)["error"]
    assert error.startswith("rate limited: light/test allows 1 per 5 s")
    assert handler.stats()["rate_limited"]["light/test"] == 999
    assert handler.stats()["rate_limited_total"] == 999
    clock.t = 105.0  # a refused id is not remembered: the same id runs once the bucket refilled
    assert dispatch("light/test", body({"request_id": "t-1"}), handler).ok
    assert len(calls) == 2


def test_repeats_cost_no_tokens_and_commands_have_their_own_buckets():
    gate = RequestGate({"a": RateLimit(burst=1, per_s=1.0), "b": RateLimit(burst=1, per_s=1.0)})
    assert gate.admit("a", "1", 0.0) == Run()
    gate.record("a", "1", Answer(data={}), 0.0)
    for _ in range(5):
        assert not isinstance(gate.admit("a", "1", 0.0), Limited)
    assert gate.admit("b", "1", 0.0) == Run()
    assert isinstance(gate.admit("a", "2", 0.0), Limited)
    assert gate.admit("a", "2", 1.0) == Run()


def test_ids_are_forgotten_after_the_window_or_beyond_the_last_n():
    gate = RequestGate({}, window_s=60.0, max_ids=3)
    for i in range(4):
        assert gate.admit("snapshot", f"r{i}", 0.0) == Run()
        gate.record("snapshot", f"r{i}", Answer(data={}), 0.0)
    assert gate.admit("snapshot", "r0", 1.0) == Run()  # the oldest of 4 with room for 3
    assert gate.admit("snapshot", "r3", 59.0) != Run()  # within the window: a repeat
    assert gate.admit("snapshot", "r3", 60.0) == Run()  # 60 s later: a new request


def test_a_clock_that_steps_back_refills_nothing():
    gate = RequestGate({"x": RateLimit(burst=1, per_s=1.0)})
    assert gate.admit("x", "1", 50.0) == Run()
    assert isinstance(gate.admit("x", "2", 10.0), Limited)
    assert isinstance(gate.admit("x", "3", 10.5), Limited)
    assert gate.admit("x", "4", 11.0) == Run()


@given(
    burst=st.integers(1, 20),
    per_s=st.floats(0.01, 50.0),
    gaps=st.lists(st.floats(0.0, 2.0), min_size=1, max_size=300),
)
def test_no_window_ever_runs_more_than_burst_plus_refill(burst, per_s, gaps):
    gate = RequestGate({"c": RateLimit(burst=burst, per_s=per_s)})
    now, runs = 0.0, []
    for i, gap in enumerate(gaps):
        now += gap
        if gate.admit("c", str(i), now) == Run():
            runs.append(now)
    for i, start in enumerate(runs):
        for j in range(i, len(runs)):
            assert j - i + 1 <= burst + (runs[j] - start) * per_s + 1e-6
    assert gate.stats()["executed_total"] + gate.stats()["rate_limited_total"] == len(gaps)
