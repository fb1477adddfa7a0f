"""The glass log: who (an item or a hand) was over the scanner glass, and when.

A beep needs something over the glass around it (else: ``scan_without_item``,
a barcode sheet), and something left on the glass without a beep asks for
help (``assist``). Both rules read this log; only zone events of the scan
zone write it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from edge_app.events import ZoneEvent


@dataclass
class GlassSpan:
    """One stay of a track over the glass."""

    entered: float
    #: when it left (None: still there)
    left: float | None = None


class GlassLog:
    """Stays over the glass per track, forgotten once no scan can still be checked against them."""

    def __init__(self, keep_s: float):
        #: how long a finished stay is kept after it ended
        self.keep_s = keep_s
        self.spans: dict[int, list[GlassSpan]] = {}

    def record(self, ev: ZoneEvent, ts: float) -> None:
        """Note a scan-zone event of any track (item or hand)."""
        spans = self.spans.setdefault(ev.track_id, [])
        if ev.action == "entered":
            spans.append(GlassSpan(ts))
        elif spans and spans[-1].left is None:
            # A lost track left the glass when it was last seen, not when the tracker gave up:
            # a stale box coasting a second must not excuse a barcode sheet.
            spans[-1].left = (
                ev.seen_ts
                if ev.action == "lost"
                and ev.seen_ts is not None
                and spans[-1].entered <= ev.seen_ts <= ts
                else ts
            )
        horizon = ts - self.keep_s
        for tid in [
            t
            for t, sp in self.spans.items()
            if sp and sp[-1].left is not None and sp[-1].left < horizon
        ]:
            del self.spans[tid]

    def busy(self, lo: float, hi: float) -> bool:
        """Was anything over the glass at some time in [lo, hi]?"""
        return any(
            s.entered <= hi and (s.left is None or s.left >= lo)
            for spans in self.spans.values()
            for s in spans
        )

    def still_there(self) -> Iterator[float]:
        """When each track now over the glass arrived there (in the order the tracks were first logged)."""
        for spans in self.spans.values():
            if spans and spans[-1].left is None:
                yield spans[-1].entered
