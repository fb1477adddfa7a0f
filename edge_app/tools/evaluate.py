"""Scoring: the lane's alerts against a scenario's ground truth.

An alert is a true positive when its journey landed within ``tolerance_s`` of
a ground-truth journey carrying the same label; each truth journey is
matched at most once. Latency is measured from the truth landing to the
first signal (pending nudge or alert) for that journey.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge_app.events import LaneEvent
from edge_app.tools.scenario import Truth


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    scanned_items: int = 0
    false_alerts: list = field(default_factory=list)
    missed: list = field(default_factory=list)
    caught: list = field(default_factory=list)
    #: seconds from the item landing in the bag to the first signal / the staff alert
    first_signal_latency_s: list = field(default_factory=list)
    alert_latency_s: list = field(default_factory=list)
    #: the same for alerts with no landing (a scan with no item): from the beep
    first_signal_after_scan_s: list = field(default_factory=list)
    alert_after_scan_s: list = field(default_factory=list)
    #: staff alerts later than their pending + escalation window (or the payment start)
    late_alerts: list = field(default_factory=list)
    #: missed scans as one family: the unpaid item got a missed-scan alert, either kind
    missed_family: dict = field(default_factory=lambda: {"tp": 0, "fp": 0, "fn": 0})
    by_type: dict = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def to_dict(self) -> dict:
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "scanned_items": self.scanned_items,
            "false_alerts_per_100_scanned": round(100 * self.fp / self.scanned_items, 2)
            if self.scanned_items
            else 0.0,
            "first_signal_latency_s": [round(x, 3) for x in self.first_signal_latency_s],
            "alert_latency_s": [round(x, 3) for x in self.alert_latency_s],
            "first_signal_after_scan_s": [round(x, 3) for x in self.first_signal_after_scan_s],
            "alert_after_scan_s": [round(x, 3) for x in self.alert_after_scan_s],
            "late_alerts": len(self.late_alerts),
            "missed_scan_any_kind": dict(self.missed_family),
            "by_type": self.by_type,
        }


def _truth_ts(j) -> float | None:
    """When an expected alert's item landed; a barcode sheet never lands: it is placed by its scan."""
    return j.t_land if j.t_land is not None else j.t_scan


def _alert_ts(a: LaneEvent) -> float | None:
    return a.data.get("landed_ts") if a.data.get("landed_ts") is not None else a.data.get("scan_ts")


def _late_alerts(
    events: list[LaneEvent], alerts: list[LaneEvent], escalation_s: float, tick_s: float
) -> list:
    """Staff alerts later than their nudge + the escalation window, or the payment start if sooner."""
    pending_ts = {e.data.get("journey_id", ""): e.ts for e in events if e.type == "journey.pending"}
    payment_ts = [e.ts for e in events if e.type == "transaction.payment_started"]
    late = []
    for a in alerts:
        jid = a.data.get("journey_id", "")
        if jid in pending_ts:
            deadline = pending_ts[jid] + escalation_s
            deadline = min([deadline] + [t for t in payment_ts if t >= pending_ts[jid]])
            if a.ts > deadline + tick_s + 1e-9:
                late.append(a)
    return late


def _closest_expected(
    a: LaneEvent, expected: list, used: set[int], tolerance_s: float
) -> int | None:
    """The unused expected alert of the same type whose landing is closest (within the tolerance)."""
    landed = _alert_ts(a)
    best, best_dt = None, tolerance_s
    for i, j in enumerate(expected):
        if i in used or j.label != a.data.get("alert_type") or landed is None:
            continue
        dt = abs(landed - _truth_ts(j))  # type: ignore[operator]
        if dt <= best_dt:
            best, best_dt = i, dt
    return best


def _record_hit(s: Score, j, a: LaneEvent, first: float) -> None:
    s.caught.append((j, a))
    if j.t_land is not None:
        s.alert_latency_s.append(a.ts - j.t_land)
        s.first_signal_latency_s.append(first - j.t_land)
    else:
        s.alert_after_scan_s.append(a.ts - _truth_ts(j))  # type: ignore[operator]
        s.first_signal_after_scan_s.append(first - _truth_ts(j))  # type: ignore[operator]


def _missed_family(s: Score, expected: list, alerts: list[LaneEvent], tolerance_s: float) -> None:
    """The same item, either missed-scan kind: the camera may not see whether it
    crossed the glass (a pass-over lost on the glass lands as a bypass)."""
    fam_truth = [j for j in expected if j.label.startswith("missed_scan")]
    fam_used: set[int] = set()
    for a in alerts:
        at = _alert_ts(a)
        if not str(a.data.get("alert_type", "")).startswith("missed_scan") or at is None:
            continue
        hits = [
            (abs(at - _truth_ts(j)), i)  # type: ignore[operator]
            for i, j in enumerate(fam_truth)
            if i not in fam_used and abs(at - _truth_ts(j)) <= tolerance_s  # type: ignore[operator]
        ]
        if hits:
            fam_used.add(min(hits)[1])
            s.missed_family["tp"] += 1
        else:
            s.missed_family["fp"] += 1
    s.missed_family["fn"] = len(fam_truth) - len(fam_used)


def score(
    truth: Truth,
    events: list[LaneEvent],
    tolerance_s: float = 1.0,
    escalation_s: float | None = None,
    tick_s: float = 0.1,
) -> Score:
    """Match raised alerts to expected ones (same type, within ``tolerance_s``).

    ``escalation_s``: also check that each staff alert came no later than its
    pending nudge plus the escalation window, or the payment start when that
    came first (one ``tick_s`` of slack: the engine decides on ticks).
    """
    s = Score(scanned_items=sum(1 for j in truth.journeys if j.label == "scanned"))
    expected = [j for j in truth.expected_alerts() if _truth_ts(j) is not None]
    alerts = [e for e in events if e.type == "alert.raised"]
    first_signal: dict[str, float] = {}
    for e in events:
        if e.type in ("journey.pending", "alert.raised"):
            first_signal.setdefault(e.data.get("journey_id", ""), e.ts)
    if escalation_s is not None:
        s.late_alerts = _late_alerts(events, alerts, escalation_s, tick_s)
    used: set[int] = set()
    for a in alerts:
        best = _closest_expected(a, expected, used, tolerance_s)
        row = s.by_type.setdefault(a.data.get("alert_type"), {"tp": 0, "fp": 0, "fn": 0})
        if best is None:
            s.fp += 1
            row["fp"] += 1
            s.false_alerts.append(a)
        else:
            used.add(best)
            s.tp += 1
            row["tp"] += 1
            _record_hit(s, expected[best], a, first_signal.get(a.data.get("journey_id", ""), a.ts))
    _missed_family(s, expected, alerts, tolerance_s)
    for i, j in enumerate(expected):
        if i not in used:
            s.fn += 1
            s.by_type.setdefault(j.label, {"tp": 0, "fp": 0, "fn": 0})["fn"] += 1
            s.missed.append(j)
    return s


# ---------------------------------------------------------------------------
# edge-app eval: replay scenarios (full pipeline or engine only) and aggregate
# ---------------------------------------------------------------------------


def truth_inputs(scenario, lane_cfg) -> list:
    """Engine inputs built from ground truth: what perfect vision would report.

    Scanner bytes still go through the real framing code (``ScanDecoder``).
    """
    from edge_app.devices.scanner import ScanDecoder
    from edge_app.events import ZoneEvent

    inputs: list = []
    for k, j in enumerate(scenario.truth.journeys):
        if j.t_land is None:
            continue  # nothing travelled (a barcode sheet): only the scan exists
        tid = k + 1
        # one track carrying N (a stack seen as one box), or one track per stacked item
        group = max(1, j.quantity) if j.label == "multi_item" else 1
        # perfect vision names what is really carried: the product's class
        label = lane_cfg.catalog.items.get(j.gtin, {}).get("label", "") if j.gtin else ""
        t_pick = j.t_leave_pick if j.t_leave_pick is not None else j.t_land - 1.0

        def ev(t, zone, action, g=1, tid=tid, label=label):
            return ZoneEvent(
                ts=t, track_id=tid, kind="item", zone=zone, action=action, label=label, group_size=g
            )

        inputs += [ev(max(0.0, t_pick - 0.5), "pick", "entered"), ev(t_pick, "pick", "exited")]
        if j.t_over_scan is not None:
            inputs += [
                ev(j.t_over_scan, "scan", "entered"),
                ev((j.t_over_scan + j.t_land) / 2, "scan", "exited"),
            ]
        inputs.append(ev(j.t_land, "bag", "entered", group))
    decoders: dict = {}
    by_id = {s.id: s for s in lane_cfg.scanners}
    for c in scenario.scanner_chunks:
        if c.scanner not in decoders:
            sc = by_id.get(c.scanner)
            decoders[c.scanner] = ScanDecoder.from_config(sc) if sc else ScanDecoder(c.scanner)
        inputs += decoders[c.scanner].feed(c.data, c.t)
    inputs += scenario.pos_events
    return sorted(inputs, key=lambda e: e.ts)


def run_engine_only(scenario, lane_cfg) -> list:
    from edge_app.checkout.engine import CheckoutEngine
    from edge_app.events import Tick

    eng = CheckoutEngine(lane_cfg.checkout, lane_cfg.catalog)
    out: list = []
    inputs = truth_inputs(scenario, lane_cfg)
    end = (
        scenario.meta.duration_s
        + (lane_cfg.checkout.grace_ms + lane_cfg.checkout.escalation_ms) / 1000
        + 2
    )
    t = 0.0
    for ev in inputs:
        while t + 0.1 < ev.ts:  # ticks between inputs, as frames would give
            t += 0.1
            out += eng.step(Tick(t))
        out += eng.step(ev)
        t = max(t, ev.ts)
    while t < end:
        t += 0.1
        out += eng.step(Tick(t))
    return out


def run_pipeline(scenario, lane_cfg, state_dir) -> list:
    from edge_app.devices.lights.none import NoLight, NoLightConfig
    from edge_app.tools.replay import run_scenario

    cfg = lane_cfg.model_copy(update={"mqtt": None, "state_dir": str(state_dir)})
    return run_scenario(cfg, scenario, light=NoLight(NoLightConfig())).events


def _ratio(tp: int, other: int) -> float | None:
    return round(tp / (tp + other), 4) if tp + other else None


def _pct(values: list, q: float):
    import numpy as np

    return round(float(np.percentile(values, q)), 3) if values else None


def override(cfg, key: str, value):
    """``cfg`` with the dotted ``key`` (``models.motion_gating``) set to ``value``, validated."""
    try:
        return cfg.with_overrides({key: value})
    except ValueError as exc:
        raise ValueError(f"--set {exc}") from None


def evaluate(
    dirs: list,
    *,
    engine_only: bool = False,
    config=None,
    tolerance_s: float = 1.0,
    overrides: dict | None = None,
) -> dict:
    """Score every scenario; aggregate per alert type, false alerts, latencies.

    ``overrides``: dotted lane-config keys to change for every scenario (an
    experiment, e.g. ``{"models.motion_gating": False}``).
    """
    import tempfile
    from pathlib import Path

    from edge_app.config import load_config
    from edge_app.tools.scenario import Scenario

    rows, totals = [], Score()
    self_corrected = 0
    for d in dirs:
        sc = Scenario(Path(d))
        lane_cfg = load_config(config or sc.lane_config_path)
        for key, value in (overrides or {}).items():
            lane_cfg = override(lane_cfg, key, value)
        if engine_only:
            events = run_engine_only(sc, lane_cfg)
        else:
            with tempfile.TemporaryDirectory(prefix="edge-app-eval-") as tmp:
                events = run_pipeline(sc, lane_cfg, tmp)
        s = score(
            sc.truth, events, tolerance_s, escalation_s=lane_cfg.checkout.escalation_ms / 1000
        )
        corrected = sum(1 for e in events if e.type == "alert.self_corrected")
        self_corrected += corrected
        raised = [
            {"alert_type": e.data.get("alert_type"), "ts": round(e.ts, 3)}
            for e in events
            if e.type == "alert.raised"
        ]
        rows.append(
            {
                "scenario": sc.meta.name,
                "path": str(d),
                **s.to_dict(),
                "self_corrected": corrected,
                "alerts_raised": raised,
            }
        )
        totals.tp += s.tp
        totals.fp += s.fp
        totals.fn += s.fn
        totals.scanned_items += s.scanned_items
        totals.first_signal_latency_s += s.first_signal_latency_s
        totals.alert_latency_s += s.alert_latency_s
        totals.first_signal_after_scan_s += s.first_signal_after_scan_s
        totals.alert_after_scan_s += s.alert_after_scan_s
        totals.late_alerts += s.late_alerts
        for m in ("tp", "fp", "fn"):
            totals.missed_family[m] += s.missed_family[m]
        for k, v in s.by_type.items():
            agg = totals.by_type.setdefault(k, {"tp": 0, "fp": 0, "fn": 0})
            for m in ("tp", "fp", "fn"):
                agg[m] += v[m]
    by_type = {}
    for k, v in sorted(totals.by_type.items()):
        by_type[k] = {
            **v,
            "precision": _ratio(v["tp"], v["fp"]),
            "recall": _ratio(v["tp"], v["fn"]),
        }
    ms = {
        m: sum(
            by_type.get(k, {}).get(m, 0) for k in ("missed_scan.pass_over", "missed_scan.bypass")
        )
        for m in ("tp", "fp", "fn")
    }
    return {
        "mode": "engine_only" if engine_only else "pipeline",
        "scenarios": len(rows),
        "alerts": {
            "tp": totals.tp,
            "fp": totals.fp,
            "fn": totals.fn,
            "precision": round(totals.precision, 4),
            "recall": round(totals.recall, 4),
        },
        "missed_scan": {
            **ms,
            "precision": _ratio(ms["tp"], ms["fp"]),
            "recall": _ratio(ms["tp"], ms["fn"]),
        },
        # the same, counting an alert of the other missed-scan kind on the right item as caught
        "missed_scan_any_kind": {
            **totals.missed_family,
            "precision": _ratio(totals.missed_family["tp"], totals.missed_family["fp"]),
            "recall": _ratio(totals.missed_family["tp"], totals.missed_family["fn"]),
        },
        "by_type": by_type,
        "scanned_items": totals.scanned_items,
        "false_alerts_per_100_scanned": round(100 * totals.fp / totals.scanned_items, 2)
        if totals.scanned_items
        else 0.0,
        "first_signal_latency_s": {
            "p50": _pct(totals.first_signal_latency_s, 50),
            "p95": _pct(totals.first_signal_latency_s, 95),
        },
        "staff_alert_latency_s": {
            "p50": _pct(totals.alert_latency_s, 50),
            "p95": _pct(totals.alert_latency_s, 95),
        },
        # alerts with no item landing (scan_without_item): from the beep
        "first_signal_after_scan_s": {
            "p50": _pct(totals.first_signal_after_scan_s, 50),
            "p95": _pct(totals.first_signal_after_scan_s, 95),
        },
        "staff_alert_after_scan_s": {
            "p50": _pct(totals.alert_after_scan_s, 50),
            "p95": _pct(totals.alert_after_scan_s, 95),
        },
        "staff_alerts_late": len(totals.late_alerts),
        "self_corrected": self_corrected,
        "per_scenario": rows,
    }


def _eval_command(args) -> int:
    import json
    from pathlib import Path

    dirs = []
    for d in args.scenarios:
        p = Path(d)
        dirs += (
            sorted(x.parent for x in p.glob("*/scenario.yaml"))
            if not (p / "scenario.yaml").exists()
            else [p]
        )
    if not dirs:
        print("edge-app eval: no scenario folders found", flush=True)
        return 2
    import yaml

    overrides = {}
    for item in args.set or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            print(f"edge-app eval: --set wants KEY=VALUE, got {item!r}", flush=True)
            return 2
        overrides[key.strip()] = yaml.safe_load(value)
    try:
        report = evaluate(
            dirs, engine_only=args.engine_only, config=args.config, overrides=overrides
        )
    except ValueError as exc:  # pydantic's ValidationError is one
        print(f"edge-app eval: {exc}", flush=True)
        return 2
    text = json.dumps(report, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(text)
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("eval", help="replay scenarios and score alerts against ground truth")
    p.add_argument("scenarios", nargs="+", help="scenario folders, or folders of scenario folders")
    p.add_argument(
        "--engine-only",
        action="store_true",
        help="feed ground-truth tracks to the engine (no vision)",
    )
    p.add_argument("--config", help="lane YAML to use instead of each scenario's own")
    p.add_argument("--json", metavar="OUT", help="also write the report here")
    p.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="change a lane setting for every scenario, e.g. models.motion_gating=false "
        "(repeatable)",
    )
    p.set_defaults(func=_eval_command)
