"""Which scan line paid for which journey: pure functions over the basket's records.

The engine commits what these find (and raises what follows from it); here
nothing is changed. Times are seconds on the lane clock; ``now`` is the
engine's current time.

A scan line of quantity N covers up to N journeys; a journey may be covered
by a scan up to ``match_before_ms`` before it passed the scanner and up to
``match_after_ms`` after it landed (a late beep).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge_app.checkout.state import (
    ALERTED,
    IN_FLIGHT,
    KEYED,
    LANDED,
    MATCHED,
    PENDING,
    Journey,
    ScanLine,
    seconds,
)
from edge_app.config import CheckoutConfig
from edge_app.events import Scan

#: an item seen over the glass is the likelier owner of a beep than one carried round it
BYPASS_PENALTY_S = 1.0
#: the back of a stack: the box the camera saw whole is the likelier one scanned
BEHIND_PENALTY_S = 0.5
#: the cost of a pair outside its window: never assigned
NO_FIT = 1e9


def window(j: Journey, now: float, cfg: CheckoutConfig) -> tuple[float, float]:
    """When a line may have paid for this journey."""
    lo = min(j.start_ts, j.ref_ts) - seconds(cfg.match_before_ms)
    hi = (j.landed_ts if j.landed_ts is not None else now) + seconds(cfg.match_after_ms)
    if (
        j.state in (PENDING, ALERTED)
        and j.scan_zone_ts is not None
        and j.scan_zone_ts > (j.landed_ts or 0.0)
    ):
        # Taken out of the bag and held over the glass again: a later beep
        # is the fix. A beep alone (a barcode sheet) must not clear an alert.
        hi = max(hi, now)
    return lo, hi


def waiting(journeys: list[Journey]) -> list[Journey]:
    """The journeys that compete for the scan lines: the landed ones, then those over the glass.

    Items still over the glass compete too, so a bypassed item that lands
    first cannot steal the beep of the item being scanned. Not once their
    track is lost: a second box on an item that already landed would keep
    its beep from it. None at all while nothing has landed.
    """
    landed = [
        j for j in journeys if j.state in (LANDED, PENDING, ALERTED) and j.landed_ts is not None
    ]
    if not landed:
        return []
    return landed + [
        j
        for j in journeys
        if j.state == IN_FLIGHT and j.scan_zone_ts is not None and j.lost_ts is None
    ]


def open_slots(scans: list[ScanLine]) -> list[int]:
    """One entry (the line's index) per unit a line can still pay for."""
    slots = []
    for i, line in enumerate(scans):
        for _ in range(line.quantity - line.used if not line.voided else 0):
            slots.append(i)
    return slots


def pair_cost(j: Journey, scan: Scan, end: float) -> float:
    """How badly ``scan`` fits ``j`` (seconds); ``end``: its landing, or now while it flies."""
    s_ts = scan.ts
    if scan.scanner_id == KEYED:
        # Keyed on the kiosk (produce): any time while the item is carried, glass or not.
        return max(0.0, j.start_ts - s_ts, s_ts - end)
    if j.scan_zone_ts is not None:
        # A beep while the item was over the glass fits it best; the closest to its arrival breaks
        # ties.
        glass_end = j.glass_end_ts if j.glass_end_ts is not None else end
        off = max(0.0, j.scan_zone_ts - s_ts, s_ts - max(glass_end, j.scan_zone_ts))
        return off + 0.01 * abs(s_ts - j.ref_ts) + (BEHIND_PENALTY_S if j.behind else 0.0)
    penalty = 0.0 if j.over_scanner else BYPASS_PENALTY_S
    return abs(s_ts - j.ref_ts) + penalty


def assign(
    journeys: list[Journey], scans: list[ScanLine], now: float, cfg: CheckoutConfig
) -> list[tuple[Journey, int]] | None:
    """Global assignment of waiting journeys to scan line units, closest time first.

    Returns (journey, line index) pairs in the order of ``waiting``; the
    journeys still over the glass claim their lines here but are committed
    only when they land. None: nothing waits, or no line can pay any more.
    """
    candidates = waiting(journeys)
    if not candidates:
        return None
    slots = open_slots(scans)
    if not slots:
        return None
    cost = np.full((len(candidates), len(slots)), NO_FIT)
    for a, j in enumerate(candidates):
        lo, hi = window(j, now, cfg)
        end = j.landed_ts if j.landed_ts is not None else now
        for b, i in enumerate(slots):
            if lo <= scans[i].scan.ts <= hi:
                cost[a, b] = pair_cost(j, scans[i].scan, end)
    rows, cols = linear_sum_assignment(cost)
    return [
        (candidates[a], slots[b]) for a, b in zip(rows, cols, strict=True) if cost[a, b] < NO_FIT
    ]


def free_lines(scans: list[ScanLine]) -> list[int]:
    """Lines that can still pay for an item."""
    return [i for i, line in enumerate(scans) if not line.voided and line.used < line.quantity]


def _closest(lines: list[int], scans: list[ScanLine], j: Journey) -> int:
    return min(lines, key=lambda i: abs(scans[i].scan.ts - j.ref_ts))


class Repair(NamedTuple):
    """``matched`` gives its line ``old`` to the waiting journey and takes the free line ``new``."""

    matched: Journey
    old: int
    new: int


def repair_for(
    p: Journey,
    journeys: list[Journey],
    scans: list[ScanLine],
    free: list[int],
    now: float,
    cfg: CheckoutConfig,
) -> Repair | None:
    """A line went to an item whose own beep came later: let that item take its beep.

    Pairs are committed when an item lands, but a beep may come just after
    the landing: the line a landed item took may have been the one of an
    item that landed before it (two items over the glass close together),
    or a keyed line (produce) that said only that an item was added. When a
    free line fits the matched item, and its old line fits the waiting item
    ``p``, both are paid: one more item matched, the shortest augmenting path.
    Never for an alerted item: only a scan over the glass fixes a staff alert.
    """
    lo_p, hi_p = window(p, now, cfg)
    for m in journeys:
        if m.state != MATCHED or m.scan_index is None:
            continue
        old = scans[m.scan_index]
        if old.voided or not lo_p <= old.scan.ts <= hi_p:
            continue
        lo_m, hi_m = window(m, now, cfg)
        fits = [
            i
            for i in free
            if scans[i].used < scans[i].quantity and lo_m <= scans[i].scan.ts <= hi_m
        ]
        if fits:
            return Repair(m, m.scan_index, _closest(fits, scans, m))
    return None


def repay_line(j: Journey, scans: list[ScanLine], now: float, cfg: CheckoutConfig) -> int | None:
    """The free line that pays for a matched item whose line was voided, if one fits."""
    lo, hi = window(j, now, cfg)
    fits = [
        i
        for i, line in enumerate(scans)
        if not line.voided and line.used < line.quantity and lo <= line.scan.ts <= hi
    ]
    return _closest(fits, scans, j) if fits else None
