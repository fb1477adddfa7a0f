"""Scoring alerts against ground truth, and `edge-app eval`."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_app.events import LaneEvent
from edge_app.tools.evaluate import evaluate, score
from edge_app.tools.scenario import Truth, TruthJourney

REPO = Path(__file__).resolve().parents[2]
SESSION = REPO / "calibration" / "demo" / "session-001"


def alert(ts, kind, landed, jid="J1"):
    return LaneEvent(
        ts=ts,
        type="alert.raised",
        data={"alert_type": kind, "landed_ts": landed, "journey_id": jid, "track_id": 1},
    )


def test_score_counts_hits_false_alerts_and_misses():
    truth = Truth(
        journeys=[
            TruthJourney(product="a", label="scanned", t_land=2.0),
            TruthJourney(product="b", label="missed_scan.bypass", t_land=5.0),
            TruthJourney(product="c", label="missed_scan.pass_over", t_land=9.0),
        ]
    )
    events = [
        LaneEvent(
            ts=5.6,
            type="journey.pending",
            data={"journey_id": "J2", "alert_type": "missed_scan.bypass"},
        ),
        alert(8.6, "missed_scan.bypass", 5.2, "J2"),  # right type, landing within 1 s
        alert(4.0, "missed_scan.pass_over", 2.1, "J1"),  # on the scanned item: false
    ]
    s = score(truth, events)
    assert (s.tp, s.fp, s.fn) == (1, 1, 1)
    assert abs(s.first_signal_latency_s[0] - 0.6) < 1e-9 and abs(s.alert_latency_s[0] - 3.6) < 1e-9
    assert s.by_type["missed_scan.pass_over"] == {"tp": 0, "fp": 1, "fn": 1}


def test_engine_only_on_the_demo_session_is_exact():
    r = evaluate([SESSION], engine_only=True)
    assert r["missed_scan"] == {"tp": 2, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0}
    assert r["false_alerts_per_100_scanned"] == 0.0
    assert r["first_signal_latency_s"]["p95"] <= 1.0


def eval_demo_session(*args: str) -> subprocess.CompletedProcess:
    """`edge-app eval --engine-only` on the demo session, with ``args``."""
    cmd = [sys.executable, "-m", "edge_app", "eval", "--engine-only", str(SESSION), *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)


def test_eval_command_writes_json(tmp_path):
    out = tmp_path / "eval.json"
    r = eval_demo_session("--json", str(out))
    assert r.returncode == 0, r.stderr
    report = json.loads(out.read_text())
    assert report["mode"] == "engine_only" and report["scenarios"] == 1
    assert report["per_scenario"][0]["scenario"] == "demo-session-001"


def test_scan_without_item_is_scored_by_its_scan_time():
    truth = Truth(journeys=[TruthJourney(product="sheet", label="scan_without_item", t_scan=4.0)])
    a = LaneEvent(
        ts=5.5,
        type="alert.raised",
        data={
            "alert_type": "scan_without_item",
            "landed_ts": None,
            "scan_ts": 4.0,
            "journey_id": "S0000",
            "track_id": -1,
        },
    )
    s = score(truth, [a])
    assert (s.tp, s.fp, s.fn) == (1, 0, 0) and abs(s.alert_after_scan_s[0] - 1.5) < 1e-9
    assert (
        s.alert_latency_s == [] and s.first_signal_latency_s == []
    )  # no landing: not "after the bag"


def test_eval_set_changes_a_lane_setting_and_names_a_wrong_key(tmp_path):
    from edge_app.config import load_config
    from edge_app.tools.evaluate import override

    cfg = load_config(REPO / "calibration" / "demo" / "lane.yaml")
    off = override(cfg, "models.motion_gating", False)
    assert off.models.motion_gating is False and cfg.models.motion_gating is True
    assert off.resolve("x") == cfg.resolve("x")  # paths still resolve beside the lane file
    with pytest.raises(ValueError, match="no field 'motion_gate'"):
        override(cfg, "models.motion_gate", False)
    r = eval_demo_session("--set", "checkout.grace_ms=nonsense")
    assert r.returncode == 2 and "grace_ms" in r.stdout


def test_staff_alert_is_late_after_escalation_or_payment_start():
    truth = Truth(journeys=[TruthJourney(product="b", label="missed_scan.bypass", t_land=5.0)])
    pending = LaneEvent(
        ts=5.6,
        type="journey.pending",
        data={"journey_id": "J2", "alert_type": "missed_scan.bypass"},
    )
    raised = alert(8.6, "missed_scan.bypass", 5.2, "J2")
    assert score(truth, [pending, raised], escalation_s=3.0).late_alerts == []
    assert len(score(truth, [pending, raised], escalation_s=2.0).late_alerts) == 1
    paid = LaneEvent(ts=6.0, type="transaction.payment_started", data={})
    assert len(score(truth, [pending, paid, raised], escalation_s=3.0).late_alerts) == 1
    on_time = alert(6.05, "missed_scan.bypass", 5.2, "J2")
    assert score(truth, [pending, paid, on_time], escalation_s=3.0).late_alerts == []


def test_a_missed_scan_of_the_other_kind_on_the_right_item_counts_for_the_family():
    truth = Truth(journeys=[TruthJourney(product="c", label="missed_scan.pass_over", t_land=9.0)])
    s = score(truth, [alert(12.6, "missed_scan.bypass", 9.1, "J3")])
    assert (s.tp, s.fp, s.fn) == (0, 1, 1)  # per kind: wrong kind
    assert s.missed_family == {"tp": 1, "fp": 0, "fn": 0}  # the unpaid item was caught
    far = score(truth, [alert(12.6, "missed_scan.bypass", 5.0, "J3")])
    assert far.missed_family == {"tp": 0, "fp": 1, "fn": 1}
