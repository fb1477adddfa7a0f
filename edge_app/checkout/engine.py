"""CheckoutEngine: decides, item by item, whether what went into the bag was scanned.

A pure, deterministic state machine (functional core): it is fed timestamped
``EngineInput`` s — zone events of tracked items, scans, POS events, device
health, staff actions, ticks — and answers with ``LaneEvent`` s. It reads no
clock and does no I/O; time is the ``ts`` of what it is fed, so a replayed
scenario gives exactly the decisions the live lane gave.

Shape borrowed from Intel's RTSF reconciler (journeys linked to scans inside a
time window, suspects decided at payment start), with a two-stage decision:
an unmatched journey becomes *pending* after ``grace_ms`` (the kiosk nudges,
amber light) and a staff *alert* after ``escalation_ms`` or at payment start.

The engine composes the package: ``journeys.JourneyBuilder`` turns item zone
events into journeys (repairing the tracker), ``glass.GlassLog`` logs who was
over the glass, ``matching`` pairs journeys with scan lines, ``alerts`` holds
the alert rules; the transaction's lifecycle, the clock and the lane events
are the engine's own.

>>> from edge_app.config import CheckoutConfig
>>> from edge_app.events import ZoneEvent, Tick
>>> eng = CheckoutEngine(CheckoutConfig())
>>> for zone, action, t in [("pick", "entered", 0.0), ("pick", "exited", 0.5), ("bag", "entered", 1.0)]:
...     _ = eng.step(ZoneEvent(ts=t, track_id=7, kind="item", zone=zone, action=action, label="bottle"))
>>> [e.type for e in eng.step(Tick(ts=1.7))]
['journey.pending']
>>> [(e.type, e.data["alert_type"]) for e in eng.step(Tick(ts=6.0))]
[('alert.raised', 'missed_scan.bypass')]
"""

from __future__ import annotations

import itertools
from typing import Any

from edge_app.checkout import alerts, matching
from edge_app.checkout.glass import GlassLog
from edge_app.checkout.journeys import JourneyBuilder
from edge_app.checkout.state import (
    ALERTED,
    CANCELLED,
    CORRECTED,
    IN_FLIGHT,
    KEYED,
    LANDED,
    MATCHED,
    OPEN,
    PENDING,
    Journey,
    LaneView,
    ScanLine,
    Transaction,
    seconds,
)
from edge_app.config import Catalog, CheckoutConfig
from edge_app.events import (
    AlertData,
    AlertType,
    DeviceStatus,
    EngineInput,
    JourneyData,
    LaneEvent,
    LaneMode,
    PosEvent,
    Resolution,
    Scan,
    ScanData,
    StaffAction,
    Tick,
    TransactionSummary,
    Zone,
    ZoneEvent,
)

#: alerts of closed baskets kept for staff; beyond it the oldest go (they are on MQTT already)
MAX_UNREVIEWED = 100


class CheckoutEngine:
    """One lane's decisions. ``step`` is the only way in."""

    def __init__(self, config: CheckoutConfig, catalog: Catalog | None = None, id_prefix: str = ""):
        self.cfg = config
        self.catalog = catalog or Catalog()
        self.id_prefix = id_prefix
        self.tx: Transaction | None = None
        #: components whose failure blinds the lane (camera, scanners) that are down now
        self.down: set[str] = set()
        self.journeys = JourneyBuilder(config, self)
        self.glass = GlassLog(keep_s=4 * max(1.0, seconds(config.scan_without_item_window_ms)))
        self.voids = alerts.VoidWatch()
        self.unreviewed: dict[
            str, tuple[AlertData, str]
        ] = {}  # alert id -> (alert, transaction id)
        self._tx_numbers = itertools.count(1)
        self._journey_numbers = itertools.count(1)
        self._alert_numbers = itertools.count(1)
        self.now = 0.0

    # ------------------------------------------------------------------ API

    def step(self, event: EngineInput) -> list[LaneEvent]:
        out: list[LaneEvent] = []
        ts = max(event.ts, self.now)  # one monotonic clock: never go back
        self._advance(ts, out)
        if isinstance(event, ZoneEvent):
            self._on_zone(event, ts, out)
        elif isinstance(event, Scan):
            self._on_scan(event, ts, out)
        elif isinstance(event, PosEvent):
            self._on_pos(event, ts, out)
        elif isinstance(event, DeviceStatus):
            self._on_device(event, ts, out)
        elif isinstance(event, StaffAction):
            self._on_staff(event, ts, out)
        elif isinstance(event, Tick):
            pass
        self._advance(ts, out)
        return out

    @property
    def view(self) -> LaneView:
        tx = self.tx
        left = len(self.unreviewed)
        if tx is None:
            mode = LaneMode.REVIEW_REQUIRED if left else LaneMode.IDLE
            return LaneView(mode, "", 0, left, bool(self.down))
        pending = sum(1 for j in tx.journeys if j.state == PENDING)
        mode = LaneMode.REVIEW_REQUIRED if tx.open_alerts or left else LaneMode.IN_TRANSACTION
        return LaneView(
            mode,
            tx.transaction_id,
            pending,
            len(tx.open_alerts) + left,
            tx.unverified or bool(self.down),
        )

    def open_alerts(self) -> list[AlertData]:
        """Every uncleared alert: this transaction's and earlier ones still awaiting staff."""
        current = [self.tx.alerts[a] for a in sorted(self.tx.open_alerts)] if self.tx else []
        return current + [a for a, _ in self.unreviewed.values()]

    # ------------------------------------------- what journey building asks

    def new_journey(self, track_id: int, label: str, ts: float, out: list[LaneEvent]) -> Journey:
        """A journey in the open transaction (opened for it if need be)."""
        tx = self._open_tx(ts, out)
        j = Journey(
            f"J{next(self._journey_numbers):05d}",
            track_id,
            label,
            ts,
            after_payment=tx.payment_started,
        )
        tx.journeys.append(j)
        return j

    def match(self, ts: float, out: list[LaneEvent]) -> None:
        """Pair waiting journeys with scan lines (``matching.assign``); commit the landed ones."""
        tx = self.tx
        if tx is None:
            return
        pairs = matching.assign(tx.journeys, tx.scans, ts, self.cfg)
        if pairs is None:
            return
        for j, line_i in pairs:
            if j.state != IN_FLIGHT:  # one still over the glass: claimed, committed when it lands
                self._commit(j, line_i, ts, out)
        self._repair_pairs(tx, ts, out)

    def self_correct(self, j: Journey, ts: float, out: list[LaneEvent], how: str) -> None:
        """The shopper fixed ``j`` (``how``: scanned late, back in the basket, put in go-back)."""
        tx = self.tx
        assert tx is not None
        alerts.self_correct(tx, j)
        data = alerts.alert_data(
            tx, j, j.alert_id, j.alert_type or self._alert_type(j), CORRECTED.value, how
        )
        out.append(self._event(ts, "alert.self_corrected", data))

    # ------------------------------------------------------------ internals

    def _event(self, ts: float, type_: str, data: Any) -> LaneEvent:
        tid = self.tx.transaction_id if self.tx else ""
        return LaneEvent(
            ts=ts,
            type=type_,
            transaction_id=tid,
            data=data.to_dict() if hasattr(data, "to_dict") else data,
        )

    def _open_tx(self, ts: float, out: list[LaneEvent], transaction_id: str = "") -> Transaction:
        if self.tx is None:
            n = next(self._tx_numbers)
            tid = transaction_id or f"{self.id_prefix}T{n:05d}"
            self.tx = Transaction(tid, ts, ts, unverified=bool(self.down))
            out.append(
                self._event(
                    ts, "transaction.started", {"reason": "pos" if transaction_id else "activity"}
                )
            )
        self.tx.last_activity_ts = ts
        return self.tx

    def _close_tx(self, ts: float, out: list[LaneEvent], reason: str) -> None:
        tx = self.tx
        if tx is None:
            return
        self._decide_open(tx, ts, out)  # whatever is still undecided, as at payment start
        self.voids.forget()
        ev = self._event(ts, "transaction.ended", _summary(tx, ts))
        ev.data["reason"] = reason
        out.append(ev)
        for aid in sorted(tx.open_alerts):
            self.unreviewed[aid] = (tx.alerts[aid], tx.transaction_id)
        while len(self.unreviewed) > MAX_UNREVIEWED:  # nobody reviews: keep the newest
            del self.unreviewed[next(iter(self.unreviewed))]
        self.tx = None
        self.journeys.end_basket(ts)

    def _on_zone(self, ev: ZoneEvent, ts: float, out: list[LaneEvent]) -> None:
        if ev.zone == Zone.SCAN:
            self.glass.record(ev, ts)
        if ev.kind != "item":
            if ev.zone == Zone.SCAN and ev.action == "entered" and self.tx:
                self.tx.last_activity_ts = ts
            return
        self.journeys.on_item(ev, ts, out)

    def _on_scan(self, scan: Scan, ts: float, out: list[LaneEvent]) -> None:
        tx = self._open_tx(ts, out)
        tx.scans.append(ScanLine(scan, max(1, scan.quantity)))
        out.append(
            self._event(
                ts,
                "scan.registered",
                ScanData(scan.scanner_id, scan.gtin, scan.symbology, scan.quantity),
            )
        )
        self.match(ts, out)

    def _on_pos(self, ev: PosEvent, ts: float, out: list[LaneEvent]) -> None:
        if ev.kind == "transaction_start":
            if self.tx is not None:
                self._close_tx(ts, out, "new transaction")
            self._open_tx(ts, out, ev.transaction_id)
        elif ev.kind == "transaction_end":
            self._close_tx(ts, out, "pos")
        elif ev.kind == "payment_start":
            tx = self._open_tx(ts, out)
            tx.payment_started = True
            out.append(self._event(ts, "transaction.payment_started", {}))
            self._decide_open(tx, ts, out)
        elif ev.kind == "item_added":
            # A barcode-less line (produce keyed on the kiosk): a scan line without a scanner.
            tx = self._open_tx(ts, out)
            keyed = Scan(ts, KEYED, ev.gtin, KEYED, ev.description, ev.quantity)
            tx.scans.append(ScanLine(keyed, max(1, ev.quantity)))
            self.match(ts, out)
        elif ev.kind == "void":
            self._void(self._open_tx(ts, out), ev, ts)

    def _void(self, tx: Transaction, ev: PosEvent, ts: float) -> None:
        """The POS names a product, not a line: the latest line of that quantity, an
        unpaired one (the double beep being voided) before one an item took."""
        left = max(1, ev.quantity)
        lines = [
            i for i, line in enumerate(tx.scans) if line.scan.gtin == ev.gtin and not line.voided
        ]
        lines.sort(
            key=lambda i: (tx.scans[i].quantity == left, tx.scans[i].used == 0, i), reverse=True
        )
        for i in lines:
            line = tx.scans[i]
            if left <= 0:
                break
            line.voided = True
            left -= line.quantity
            # The item that line paid for must leave the bag, or it is void_kept.
            for j in tx.journeys:
                if j.scan_index == i and j.state == MATCHED and j.in_bag:
                    self.voids.add(j, ts)

    def _on_device(self, ev: DeviceStatus, ts: float, out: list[LaneEvent]) -> None:
        if ev.component == "camera" or ev.component.startswith("scanner"):
            if ev.status == "down":
                self.down.add(ev.component)
                if self.tx:
                    self.tx.unverified = True
            else:
                self.down.discard(ev.component)

    def _on_staff(self, ev: StaffAction, ts: float, out: list[LaneEvent]) -> None:
        # Alerts of a basket that already closed stay until staff have looked.
        for aid in [ev.alert_id] if ev.alert_id else sorted(self.unreviewed):
            if aid in self.unreviewed:
                a, tid = self.unreviewed.pop(aid)
                cleared = _cleared(a, ev)
                out.append(
                    LaneEvent(
                        ts=ts, type="alert.cleared", transaction_id=tid, data=cleared.to_dict()
                    )
                )
        tx = self.tx
        if tx is None:
            return
        ids = [ev.alert_id] if ev.alert_id else sorted(tx.open_alerts)
        for aid in ids:
            if aid not in tx.open_alerts:
                continue
            tx.open_alerts.discard(aid)
            tx.resolutions[ev.resolution] = tx.resolutions.get(ev.resolution, 0) + 1
            out.append(self._event(ts, "alert.cleared", _cleared(tx.alerts[aid], ev)))
        if ev.resolution == Resolution.CUSTOMER_LEFT:
            self._close_tx(ts, out, Resolution.CUSTOMER_LEFT.value)

    # ---------------------------------------------------------- decisions

    def _advance(self, ts: float, out: list[LaneEvent]) -> None:
        """Let time pass up to ``ts``: late-match windows close, nudges escalate."""
        self.now = ts
        self.journeys.expire_orphans(ts)
        tx = self.tx
        if tx is None:
            return
        self.match(ts, out)
        grace, escalation = seconds(self.cfg.grace_ms), seconds(self.cfg.escalation_ms)
        self._escalate(tx, ts, grace, escalation, out)
        if self.voids.watched:
            for j in self.voids.kept(ts, grace, escalation, lambda j: self._repay(j, ts)):
                self._raise(j, ts, out, AlertType.VOID_KEPT)
        self._check_lonely_scans(tx, ts, out)
        self._check_assist(tx, ts, out)
        if ts - tx.last_activity_ts >= seconds(self.cfg.idle_timeout_ms) and not any(
            j.state in OPEN for j in tx.journeys
        ):
            self._close_tx(ts, out, "idle")

    def _escalate(
        self, tx: Transaction, ts: float, grace: float, escalation: float, out: list[LaneEvent]
    ) -> None:
        """Unmatched ``grace`` after landing: a nudge (or, once payment began, the alert);
        ``escalation`` later: the staff alert."""
        for j in tx.journeys:
            if j.landed_ts is None:
                continue
            if j.state == LANDED and ts >= j.landed_ts + grace:
                if tx.payment_started:
                    self._raise(j, ts, out)
                else:
                    j.state = PENDING
                    j.alert_type = kind = self._alert_type(j)
                    out.append(
                        self._event(ts, "journey.pending", alerts.alert_data(tx, j, "", kind))
                    )
            if j.state == PENDING and ts >= j.landed_ts + grace + escalation:
                self._raise(j, ts, out)

    def _check_lonely_scans(self, tx: Transaction, ts: float, out: list[LaneEvent]) -> None:
        """A beep with no item or hand over the glass around it: a barcode sheet."""
        if not self.cfg.scan_without_item or self.down:
            return
        w = seconds(self.cfg.scan_without_item_window_ms)
        for i, line in enumerate(tx.scans):
            if line.checked or ts < line.scan.ts + w:
                continue
            line.checked = True
            item = self.catalog.items.get(line.scan.gtin, {})
            if alerts.is_scan_without_item(line, tx.journeys, self.glass, item, ts, w):
                ghost = Journey(
                    f"S{i:04d}",
                    -1,
                    "",
                    line.scan.ts,
                    landed_ts=None,
                    state=IN_FLIGHT,
                    scan_index=i,
                )
                self._raise(ghost, ts, out, AlertType.SCAN_WITHOUT_ITEM)

    def _check_assist(self, tx: Transaction, ts: float, out: list[LaneEvent]) -> None:
        """Something has sat on the glass for long without a beep: offer help, once."""
        dwell = seconds(self.cfg.assist_dwell_ms)
        if tx.assist_raised or dwell <= 0 or self.down:
            return
        last_scan = tx.scans[-1].scan.ts if tx.scans else -1e9
        since = alerts.assist_since(self.glass.still_there(), last_scan, ts, dwell)
        if since is not None:
            tx.assist_raised = True
            helper = Journey(f"H{tx.transaction_id}", -1, "", since, state=IN_FLIGHT)
            self._raise(helper, ts, out, AlertType.ASSIST)

    def _companions(self, j: Journey) -> list[Journey]:
        if self.tx is None:
            return []
        return alerts.stack_companions(
            j, self.tx.journeys, self.journeys.book.tracks, seconds(self.cfg.stack_window_ms)
        )

    def _alert_type(self, j: Journey) -> AlertType:
        return alerts.alert_type(j, self._companions(j))

    def _raise(
        self, j: Journey, ts: float, out: list[LaneEvent], kind: AlertType | None = None
    ) -> None:
        tx = self.tx
        assert tx is not None
        kind = kind or self._alert_type(j)
        data = alerts.raise_alert(
            tx, j, kind, blind=bool(self.down), number=self._alert_numbers.__next__
        )
        if data is not None:
            out.append(self._event(ts, "alert.raised", data))

    def _decide_open(self, tx: Transaction, ts: float, out: list[LaneEvent]) -> None:
        """Payment start (or the end of the basket) decides every journey still waiting."""
        self.match(ts, out)
        for j in tx.journeys:
            if j.state in OPEN:
                self._raise(j, ts, out)

    def _commit(self, j: Journey, line_i: int, ts: float, out: list[LaneEvent]) -> None:
        """A landed journey takes the line the assignment gave it (or is fixed by it, after a nudge)."""
        tx = self.tx
        assert tx is not None
        line = tx.scans[line_i]
        line.used += 1
        j.scan_index = line_i
        late = tx.scans[line_i].scan.ts > (j.landed_ts or 0) + seconds(self.cfg.match_after_ms)
        if j.state == ALERTED or (j.state == PENDING and late):
            how = "scanned after the alert" if j.state == ALERTED else "scanned after the nudge"
            self.self_correct(j, ts, out, how)
            return
        j.state = MATCHED
        self._emit_matched(j, line, ts, out)
        self._check_match_quality(j, line, ts, out)

    def _emit_matched(self, j: Journey, line: ScanLine, ts: float, out: list[LaneEvent]) -> None:
        assert j.landed_ts is not None  # only landed journeys are paired for good
        data = JourneyData(
            j.journey_id, j.track_id, j.label, line.scan.gtin, j.over_scanner, j.landed_ts
        )
        out.append(self._event(ts, "journey.matched", data))

    def _repair_pairs(self, tx: Transaction, ts: float, out: list[LaneEvent]) -> None:
        """Let a waiting item take its own beep back from a matched one (``matching.repair_for``)."""
        free = matching.free_lines(tx.scans)
        if not free:
            return
        for p in [
            j for j in tx.journeys if j.state in (LANDED, PENDING) and j.landed_ts is not None
        ]:
            repair = matching.repair_for(p, tx.journeys, tx.scans, free, ts, self.cfg)
            if repair is None:
                continue
            m, old, new = repair
            tx.scans[new].used += 1
            p.scan_index, m.scan_index, p.state = old, new, MATCHED
            self._emit_matched(p, tx.scans[old], ts, out)
            self._check_match_quality(m, tx.scans[new], ts, out)
            self._check_match_quality(p, tx.scans[old], ts, out)

    def _repay(self, j: Journey, ts: float) -> bool:
        """A matched item whose line was voided takes a free line that fits it, if one is left."""
        tx = self.tx
        assert tx is not None
        line_i = matching.repay_line(j, tx.scans, ts, self.cfg)
        if line_i is None:
            return False
        j.scan_index = line_i
        tx.scans[line_i].used += 1
        return True

    def _check_match_quality(
        self, j: Journey, line: ScanLine, ts: float, out: list[LaneEvent]
    ) -> None:
        """Stacking and ticket switching, once a journey is paired with its line."""
        if alerts.carried_more_than_paid(j, line) and not self._companions(j):
            self._raise(j, ts, out, AlertType.MULTI_ITEM)
        expected = self.catalog.items.get(line.scan.gtin, {}).get("label")
        if alerts.is_ticket_switch(j, expected, self.journeys.book.tracks.get(j.track_id)):
            self._raise(j, ts, out, AlertType.MISMATCH)


def _summary(tx: Transaction, ts: float) -> TransactionSummary:
    items = sum(1 for j in tx.journeys if j.state not in (CANCELLED, IN_FLIGHT)) + tx.pos_items
    duration = ts - tx.start_ts
    types: dict[str, int] = {}
    for a in tx.alerts.values():
        types[a.alert_type] = types.get(a.alert_type, 0) + 1
    return TransactionSummary(
        items=items,
        scans=sum(s.quantity for s in tx.scans),
        alerts=len(tx.alerts),
        self_corrected=tx.self_corrected,
        resolutions=dict(tx.resolutions),
        duration_s=round(duration, 3),
        seconds_per_item=round(duration / items, 3) if items else None,
        unverified=tx.unverified,
        alert_types=types,
    )


def _cleared(a: AlertData, ev: StaffAction) -> AlertData:
    return AlertData(
        **{**a.to_dict(), "resolution": ev.resolution, "detail": f"cleared by {ev.source}"}
    )
