"""Scoring: the lane's alerts against a scenario's ground truth.

An alert is a true positive when its journey landed within ``tolerance_s`` of
a ground-truth journey carrying the same label; each truth journey is
matched at most once. Latency is measured from the truth landing to the
first signal (pending nudge or alert) for that journey.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_app.events import LaneEvent
from edge_app.sim.scenario import Truth


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    scanned_items: int = 0
    false_alerts: list = field(default_factory=list)
    missed: list = field(default_factory=list)
    caught: list = field(default_factory=list)
    first_signal_latency_s: list = field(default_factory=list)
    alert_latency_s: list = field(default_factory=list)
    by_type: dict = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_dict(self) -> dict:
        return {
            "tp": self.tp, "fp": self.fp, "fn": self.fn,
            "precision": round(self.precision, 4), "recall": round(self.recall, 4),
            "scanned_items": self.scanned_items,
            "false_alerts_per_100_scanned": round(100 * self.fp / self.scanned_items, 2) if self.scanned_items else 0.0,
            "first_signal_latency_s": [round(x, 3) for x in self.first_signal_latency_s],
            "alert_latency_s": [round(x, 3) for x in self.alert_latency_s],
            "by_type": self.by_type,
        }  # fmt: skip


def score(truth: Truth, events: list[LaneEvent], tolerance_s: float = 1.0) -> Score:
    s = Score(scanned_items=sum(1 for j in truth.journeys if j.label == "scanned"))
    expected = [j for j in truth.expected_alerts() if j.t_land is not None]
    alerts = [e for e in events if e.type == "alert.raised"]
    first_signal: dict[str, float] = {}
    for e in events:
        if e.type in ("journey.pending", "alert.raised"):
            first_signal.setdefault(e.data.get("journey_id", ""), e.ts)
    used: set[int] = set()
    for a in alerts:
        landed = a.data.get("landed_ts")
        best, best_dt = None, tolerance_s
        for i, j in enumerate(expected):
            if i in used or j.label != a.data.get("alert_type") or landed is None:
                continue
            dt = abs(landed - j.t_land)  # type: ignore[operator]
            if dt <= best_dt:
                best, best_dt = i, dt
        row = s.by_type.setdefault(a.data.get("alert_type"), {"tp": 0, "fp": 0, "fn": 0})
        if best is None:
            s.fp += 1
            row["fp"] += 1
            s.false_alerts.append(a)
        else:
            used.add(best)
            s.tp += 1
            row["tp"] += 1
            j = expected[best]
            s.caught.append((j, a))
            s.alert_latency_s.append(a.ts - j.t_land)  # type: ignore[operator]
            s.first_signal_latency_s.append(first_signal.get(a.data.get("journey_id", ""), a.ts) - j.t_land)  # type: ignore[operator]
    for i, j in enumerate(expected):
        if i not in used:
            s.fn += 1
            s.by_type.setdefault(j.label, {"tp": 0, "fp": 0, "fn": 0})["fn"] += 1
            s.missed.append(j)
    return s
