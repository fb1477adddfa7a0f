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

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge_app.config import Catalog, CheckoutConfig
from edge_app.events import (
    AlertData,
    DeviceStatus,
    EngineInput,
    JourneyData,
    LaneEvent,
    LaneMode,
    PosEvent,
    Scan,
    ScanData,
    StaffAction,
    Tick,
    TransactionSummary,
    ZoneEvent,
)

# Journey states
IN_FLIGHT = "in_flight"  # left the basket, not in the bag yet
LANDED = "landed"  # in the bag, waiting for its scan (grace window)
MATCHED = "matched"  # a scan line covers it
PENDING = "pending"  # nudge sent, still unmatched
ALERTED = "alerted"  # staff alert raised
CORRECTED = "self_corrected"
UNVERIFIED = "unverified"  # landed while the lane was blind: never accused
CANCELLED = "cancelled"  # put in go_back / back in the basket before landing

_OPEN = (LANDED, PENDING)
BYPASS_PENALTY_S = 1.0
SEEN_TOGETHER_S = 0.3  # two boxes seen together this long are two items, not one box re-identified
BEHIND_PENALTY_S = 0.5  # the back of a stack: the box the camera saw whole is the likelier one scanned


@dataclass
class Journey:
    journey_id: str
    track_id: int
    label: str
    start_ts: float
    over_scanner: bool = False
    scan_zone_ts: float | None = None
    landed_ts: float | None = None
    in_bag: bool = False
    state: str = IN_FLIGHT
    scan_index: int | None = None
    alert_id: str = ""
    alert_type: str = ""
    group_size: int = 1
    after_payment: bool = False
    lost_ts: float | None = None
    #: start_ts is a guess (a track lost in the basket, or first seen over the glass), not a seen pick-up
    start_guessed: bool = False
    #: when it left the glass (None: still there, or never over it)
    glass_end_ts: float | None = None
    #: the back of a stack, a sliver to the camera: its class is a guess, and a beep is the front's first
    behind: bool = False
    #: the hand that set it down in the bag (None: none seen)
    landed_carrier: int | None = None

    @property
    def ref_ts(self) -> float:
        """When the beep should have come: over the glass, else at the landing."""
        if self.scan_zone_ts is not None:
            return self.scan_zone_ts
        return self.landed_ts if self.landed_ts is not None else self.start_ts


@dataclass
class ScanLine:
    scan: Scan
    quantity: int
    used: int = 0
    voided: bool = False
    checked: bool = False  # scan_without_item decided


@dataclass
class _TrackSeen:
    zones: set = field(default_factory=set)
    seen_outside_bag: bool = False
    journey: Journey | None = None
    last_label: str = ""
    labels: dict = field(default_factory=dict)
    #: (ts, label) of every zone event, so a journey can be judged by what its carry looked like
    label_log: list = field(default_factory=list)
    #: the most items this track was seen moving with (itself included)
    moved_with: int = 1
    #: its first zone event (about when the camera first saw it)
    first_ts: float = 0.0
    #: the carry it was on when it entered go_back, and when: revived if it leaves again soon
    parked: tuple | None = None


@dataclass
class Transaction:
    transaction_id: str
    start_ts: float
    last_activity_ts: float
    payment_started: bool = False
    unverified: bool = False
    journeys: list = field(default_factory=list)
    scans: list = field(default_factory=list)
    alerts: dict = field(default_factory=dict)  # alert_id -> AlertData
    open_alerts: set = field(default_factory=set)
    resolutions: dict = field(default_factory=dict)
    self_corrected: int = 0
    pos_items: int = 0
    assist_raised: bool = False


@dataclass(frozen=True)
class LaneView:
    """What the light and the kiosk need, derived after every step."""

    mode: LaneMode
    transaction_id: str
    pending: int
    open_alerts: int
    unverified: bool


class CheckoutEngine:
    """One lane's decisions. ``step`` is the only way in."""

    def __init__(self, config: CheckoutConfig, catalog: Catalog | None = None, id_prefix: str = ""):
        self.cfg = config
        self.catalog = catalog or Catalog()
        self.id_prefix = id_prefix
        self.tx: Transaction | None = None
        self.tracks: dict[int, _TrackSeen] = {}
        self.down: set[str] = set()
        self.orphans: list[Journey] = []
        self.superseded: set[int] = set()  # track ids whose journey a newer track took over
        self.void_watch: list[tuple[Journey, float]] = []
        self.unreviewed: dict[str, tuple[AlertData, str]] = {}  # alert id -> (alert, transaction id)
        self.glass: dict[int, list] = {}  # track id -> [entered, exited or None] over the glass
        #: where each item sits in the bag: track id -> (x, y, lost at or None)
        self.bag_spots: dict[int, tuple[float, float, float | None]] = {}
        #: item tracks lost in the basket area: (lost at, label); a carry the camera lost at once
        self.pick_lost: list[tuple[float, str, float, float]] = []  # (lost at, label, x, y)
        #: (entered at, track id) of tracks first seen in the bag and taken for the baseline
        self.bag_newcomers: list[tuple[float, int]] = []
        self._n_tx = 0
        self._n_journey = 0
        self._n_alert = 0
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
            mode, tx.transaction_id, pending, len(tx.open_alerts) + left, tx.unverified or bool(self.down)
        )

    def open_alerts(self) -> list[AlertData]:
        """Every uncleared alert: this transaction's and earlier ones still awaiting staff."""
        current = [self.tx.alerts[a] for a in sorted(self.tx.open_alerts)] if self.tx else []
        return current + [a for a, _ in self.unreviewed.values()]

    # ------------------------------------------------------------ internals

    def _ms(self, name: str) -> float:
        return getattr(self.cfg, name) / 1000.0

    def _event(self, ts: float, type_: str, data) -> LaneEvent:
        tid = self.tx.transaction_id if self.tx else ""
        return LaneEvent(
            ts=ts, type=type_, transaction_id=tid, data=data.to_dict() if hasattr(data, "to_dict") else data
        )

    def _open_tx(self, ts: float, out: list, transaction_id: str = "") -> Transaction:
        if self.tx is None:
            self._n_tx += 1
            tid = transaction_id or f"{self.id_prefix}T{self._n_tx:05d}"
            self.tx = Transaction(tid, ts, ts, unverified=bool(self.down))
            out.append(
                self._event(ts, "transaction.started", {"reason": "pos" if transaction_id else "activity"})
            )
        self.tx.last_activity_ts = ts
        return self.tx

    def _close_tx(self, ts: float, out: list, reason: str) -> None:
        tx = self.tx
        if tx is None:
            return
        self._decide_open(tx, ts, out)  # whatever is still undecided, as at payment start
        items = sum(1 for j in tx.journeys if j.state not in (CANCELLED, IN_FLIGHT)) + tx.pos_items
        duration = ts - tx.start_ts
        types: dict[str, int] = {}
        for a in tx.alerts.values():
            types[a.alert_type] = types.get(a.alert_type, 0) + 1
        summary = TransactionSummary(
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
        ev = self._event(ts, "transaction.ended", summary)
        ev.data["reason"] = reason
        out.append(ev)
        for aid in sorted(tx.open_alerts):
            self.unreviewed[aid] = (tx.alerts[aid], tx.transaction_id)
        self.tx = None
        self.pick_lost = []
        self.bag_spots = {tid: spot for tid, spot in self.bag_spots.items() if spot[2] is None}
        # Tracks stay (baseline for the next shopper), journeys go.
        for seen in self.tracks.values():
            seen.journey = None
            seen.seen_outside_bag = False

    def _journey_for(self, track_id: int, seen: _TrackSeen, ts: float, out: list, label: str) -> Journey:
        if seen.journey is None:
            tx = self._open_tx(ts, out)
            self._n_journey += 1
            seen.journey = Journey(
                f"J{self._n_journey:05d}", track_id, label, ts, after_payment=tx.payment_started
            )
            tx.journeys.append(seen.journey)
        return seen.journey

    def _on_zone(self, ev: ZoneEvent, ts: float, out: list) -> None:
        if ev.zone == "scan":
            self._glass_presence(ev, ts)
        if ev.kind != "item":
            if ev.zone == "scan" and ev.action == "entered" and self.tx:
                self.tx.last_activity_ts = ts
            return
        if ev.track_id in self.superseded:
            if ev.action == "lost":
                self.superseded.discard(ev.track_id)
                self.tracks.pop(ev.track_id, None)
            return
        is_new = ev.track_id not in self.tracks
        seen = self.tracks.setdefault(ev.track_id, _TrackSeen(first_ts=ts))
        if is_new and ev.action == "entered" and ev.zone == "bag" and self._found_again(ev, ts):
            self.bag_spots[ev.track_id] = (ev.x, ev.y, None)
            return  # a second box on an item already in the bag: the same item, baseline
        if is_new and ev.action == "entered" and ev.zone in ("scan", "bag"):
            self._reacquire(ev, seen, ts, out)
        if is_new and ev.action == "entered" and ev.zone == "pick" and ev.x is not None and ev.y is not None:
            # a basket item lost and found again on its spot at once is no carry the camera missed
            # (kset6 normal-60606-021: that loss gave a bypassed milk a second journey)
            r = self.cfg.same_spot
            self.pick_lost = [
                p
                for p in self.pick_lost
                if p[2] is None or p[3] is None or (p[2] - ev.x) ** 2 + (p[3] - ev.y) ** 2 > r * r
            ]
        if ev.label:
            seen.labels[ev.label] = seen.labels.get(ev.label, 0) + 1
            seen.label_log.append((ts, ev.label))
            seen.last_label = max(seen.labels, key=seen.labels.get)
        seen.moved_with = max(seen.moved_with, ev.group_size)
        if ev.action == "lost":
            j = seen.journey
            if ev.track_id in self.bag_spots:
                x, y, _ = self.bag_spots[ev.track_id]
                self.bag_spots[ev.track_id] = (x, y, ts)
            if ev.zone == "pick" and j is None and not self._carry_began_since(ts - self._ms("reacquire_ms")):
                # (A carry that just began elsewhere makes this the tracker's
                # ghost of that item coasting in the basket, not a lost carry.)
                self.pick_lost.append((ts, seen.last_label, ev.x, ev.y))
            if j is not None and ev.zone == "scan" and j.glass_end_ts is None:
                j.glass_end_ts = ev.seen_ts if ev.seen_ts is not None and 0 <= ev.seen_ts <= ts else ts
            if j is not None and j.state == IN_FLIGHT and self._dragged_along(j, ev):
                j.state = CANCELLED
                self.tracks.pop(ev.track_id, None)
                return
            if j is not None and j.state == IN_FLIGHT:
                # Vanished before landing (occluded, motion blur): an item track
                # that appears over the glass or in the bag soon after picks it up.
                j.lost_ts = ts
                self.orphans.append(j)
                old = self.tracks.pop(ev.track_id)
                if not self._landed_unseen(j, ev, old, ts, out):
                    self._landed_behind(j, ev, old, ts, out)
                return
            self.tracks.pop(ev.track_id, None)
            return
        if ev.action == "exited":
            seen.zones.discard(ev.zone)
            j = seen.journey
            if ev.zone == "pick":
                self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
                seen.seen_outside_bag = True
            elif ev.zone == "bag" and j is not None:
                j.in_bag = False
            elif ev.zone == "scan" and j is not None:
                j.glass_end_ts = ts
            elif ev.zone == "go_back" and seen.parked is not None:
                # Carried over the go-back area on its way round the scanner, not put
                # there: the carry goes on (kset10 normal-121212-042, a bypass over the top).
                parked, entered_ts = seen.parked
                seen.parked = None
                if j is None and parked.state == CANCELLED and ts - entered_ts < self._ms("go_back_dwell_ms"):
                    parked.state = IN_FLIGHT
                    seen.journey = parked
            return
        # entered
        seen.zones.add(ev.zone)
        j = seen.journey
        if ev.zone == "pick":
            seen.seen_outside_bag = True
            if j is not None and j.state in (PENDING, ALERTED) and not j.in_bag:
                self._self_correct(j, ts, out, "back in the basket")
            elif j is not None and j.state == IN_FLIGHT:
                j.state = CANCELLED  # changed their mind before the bag
                seen.journey = None
        elif ev.zone == "go_back":
            if j is not None and j.state in (PENDING, ALERTED, LANDED):
                self._self_correct(j, ts, out, "put in go-back")
            elif j is not None and j.state == IN_FLIGHT:
                j.state = CANCELLED
                seen.journey = None
                seen.parked = (j, ts)
        elif ev.zone == "scan":
            seen.seen_outside_bag = True
            guessed = j is None and "pick" not in seen.zones  # first seen over the glass
            j = self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
            j.start_guessed = j.start_guessed or guessed
            j.over_scanner = True
            if j.scan_zone_ts is None or j.state in (PENDING, ALERTED):
                j.scan_zone_ts, j.glass_end_ts = ts, None
            if self.tx:
                self.tx.last_activity_ts = ts
        elif ev.zone == "bag":
            if ev.x is not None and ev.y is not None:
                self.bag_spots[ev.track_id] = (ev.x, ev.y, None)
            if j is None and not seen.seen_outside_bag:
                # already in the bag when we first saw it: baseline (unless a carry lost later claims it)
                self.bag_newcomers = [
                    (t, tid) for t, tid in self.bag_newcomers if ts - t <= self._ms("reacquire_ms")
                ]
                self.bag_newcomers.append((ts, ev.track_id))
                return
            j = self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
            j.in_bag = True
            j.label = seen.last_label or j.label
            j.group_size = max(j.group_size, ev.group_size)
            if j.state == IN_FLIGHT:
                j.landed_ts, j.landed_carrier = ts, ev.carrier
                if self.down:
                    j.state = UNVERIFIED
                    if self.tx:
                        self.tx.unverified = True
                else:
                    j.state = LANDED
            if self.tx:
                self.tx.last_activity_ts = ts
            self._match(ts, out)

    def _carry_began_since(self, since: float) -> bool:
        return self.tx is not None and any(
            j.start_ts >= since for j in self.tx.journeys if j.state != CANCELLED
        )

    def _found_again(self, ev: ZoneEvent, ts: float) -> bool:
        """Is this new bag box on the spot of an item in the bag (alive, or lost just now)?"""
        r, window = self.cfg.same_spot, self._ms("reacquire_ms")
        if r <= 0 or ev.x is None or ev.y is None:
            return False
        return any(
            tid != ev.track_id
            and (gone is None or ts - gone <= window)
            and (x - ev.x) ** 2 + (y - ev.y) ** 2 <= r * r
            for tid, (x, y, gone) in self.bag_spots.items()
        )

    def _reacquire(self, ev: ZoneEvent, seen: _TrackSeen, ts: float, out: list) -> None:
        window = self._ms("reacquire_ms")
        live = [j for j in self.orphans if j.state == IN_FLIGHT and ts - (j.lost_ts or ts) <= window]
        self.pick_lost = [p for p in self.pick_lost if ts - p[0] <= window]
        if live:
            j = max(live, key=lambda o: o.lost_ts or 0.0)
            self.orphans.remove(j)
        elif self.pick_lost:
            # Lost in the basket and a new item appears over the glass or in the
            # bag soon after: the camera lost a fast carry (a bypass, often).
            lost_ts, label, _, _ = self.pick_lost.pop()
            seen.last_label = seen.last_label or label
            j = self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
            j.start_ts, j.start_guessed = lost_ts, True
            seen.seen_outside_bag = True
            return
        elif ev.zone == "bag":
            # The tracker may swap ids mid-carry before it reports the old id lost:
            # a new track landing while exactly one item is in flight, not on the
            # glass, is that item. The old id's later events are ignored.
            flying = [
                j
                for j in (self.tx.journeys if self.tx else [])
                if j.state == IN_FLIGHT
                and j.lost_ts is None
                and ts - j.start_ts <= self._ms("flight_max_ms")
                and "scan" not in self.tracks.get(j.track_id, _TrackSeen()).zones
            ]
            if len(flying) != 1:
                return
            j = flying[0]
            self.superseded.add(j.track_id)
            old = self.tracks.get(j.track_id)
            if old is not None:
                old.journey = None
        else:
            return
        j.track_id = ev.track_id
        j.lost_ts = None
        seen.journey = j
        seen.seen_outside_bag = True

    def _dragged_along(self, j: Journey, ev: ZoneEvent) -> bool:
        """A basket box the tracker dragged along with a carry, not a carry of its own.

        Its box coasted out of the basket on its prediction beside an item
        really carried, and was never seen again (kset7 normal-70707-011 and
        -023: one bag of apples is several apple boxes; -022: a milk's box
        slid off with the cola). A carry is seen after it leaves the basket.
        """
        if j.start_guessed or ev.seen_ts is None or not 0 <= ev.seen_ts < j.start_ts or self.tx is None:
            return False
        w = self._ms("stack_window_ms")
        return any(  # a carry in flight as this box left the basket, still seen
            k is not j
            and k.state != CANCELLED
            and k.lost_ts is None
            and k.track_id in self.tracks
            and k.start_ts <= j.start_ts + w
            and (k.landed_ts is None or k.landed_ts >= j.start_ts)
            for k in self.tx.journeys
        )

    def _landed_behind(self, j: Journey, ev: ZoneEvent, old: _TrackSeen, ts: float, out: list) -> bool:
        """A box that moved with another and vanished as that one landed: the back of a stack.

        Two items carried stacked show the back one as a sliver; the detector
        loses it as the pair goes down into the bag (kset5 normal-31337-039).
        It landed with its companion, and is paid or is the stacking alert.
        """
        if old.moved_with < 2:
            return False
        seen = ev.seen_ts if ev.seen_ts is not None and ev.seen_ts >= 0 else ts
        w = self._ms("stack_window_ms")

        def carried_with(k: Journey) -> bool:
            kseen = self.tracks.get(k.track_id)
            return (
                kseen is not None
                and kseen.moved_with >= 2
                and k.in_bag
                and k.landed_ts is not None
                and seen - w <= k.landed_ts <= ts
                # a box first seen mid-carry beside the item is that item twice, not a second one
                # (kset12 normal-141414-001: a soda's weak lower box took it into the bag)
                and not k.start_guessed
                # both seen for a while: an id switch shows the two boxes a frame or two at once
                # (kset7 normal-70707-039: 0.13 s); the back of a stack, all the way (0.47-1.3 s)
                and seen - max(old.first_ts, kseen.first_ts) >= SEEN_TOGETHER_S
            )

        with_it = [k for k in self._stack_companions(j) if carried_with(k)]
        if not with_it:
            return False
        self.orphans.remove(j)
        j.lost_ts, j.in_bag, j.landed_ts = None, True, min(k.landed_ts for k in with_it)
        j.behind = True
        j.state = UNVERIFIED if self.down else LANDED
        if self.down and self.tx:
            self.tx.unverified = True
        self._match(ts, out)
        return True

    def _landed_unseen(self, j: Journey, ev: ZoneEvent, old: _TrackSeen, ts: float, out: list) -> bool:
        """A carry reported lost late: did it land while its old box was still coasting?

        The tracker gives up on a track a second after it last saw it; meanwhile
        the item lands under a new id, taken for the baseline because nothing
        had been lost yet (kset normal-77-003: milk over the glass). One new
        box in the bag after the last sighting is that item.
        """
        if ev.seen_ts is None or ev.seen_ts < 0:
            return False
        fresh = [
            (t, tid)
            for t, tid in self.bag_newcomers
            if ev.seen_ts <= t <= ts and tid in self.tracks and self.tracks[tid].journey is None
        ]
        if len(fresh) != 1:
            return False
        landed_at, tid = fresh[0]
        self.bag_newcomers.remove(fresh[0])
        self.orphans.remove(j)
        seen = self.tracks[tid]
        seen.journey, seen.seen_outside_bag = j, True
        seen.label_log = sorted(old.label_log + seen.label_log)  # one item: the carry's looks count
        for label in old.labels:
            seen.labels[label] = seen.labels.get(label, 0) + old.labels[label]
        j.track_id, j.lost_ts, j.in_bag, j.landed_ts = tid, None, True, landed_at
        j.label = seen.last_label or j.label
        j.state = UNVERIFIED if self.down else LANDED
        if self.down and self.tx:
            self.tx.unverified = True
        self._match(ts, out)
        return True

    def _on_scan(self, scan: Scan, ts: float, out: list) -> None:
        tx = self._open_tx(ts, out)
        tx.scans.append(ScanLine(scan, max(1, scan.quantity)))
        out.append(
            self._event(
                ts, "scan.registered", ScanData(scan.scanner_id, scan.gtin, scan.symbology, scan.quantity)
            )
        )
        self._match(ts, out)

    def _on_pos(self, ev: PosEvent, ts: float, out: list) -> None:
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
            tx.scans.append(
                ScanLine(Scan(ts, "pos", ev.gtin, "pos", ev.description, ev.quantity), max(1, ev.quantity))
            )
            self._match(ts, out)
        elif ev.kind == "void":
            tx = self._open_tx(ts, out)
            left = max(1, ev.quantity)
            # The POS names a product, not a line: the latest line of that quantity, an
            # unpaired one (the double beep being voided) before one an item took.
            lines = [i for i, line in enumerate(tx.scans) if line.scan.gtin == ev.gtin and not line.voided]
            lines.sort(key=lambda i: (tx.scans[i].quantity == left, tx.scans[i].used == 0, i), reverse=True)
            for i in lines:
                line = tx.scans[i]
                if left <= 0:
                    break
                line.voided = True
                left -= line.quantity
                # The item that line paid for must leave the bag, or it is void_kept.
                for j in tx.journeys:
                    if j.scan_index == i and j.state == MATCHED and j.in_bag:
                        self.void_watch.append((j, ts))

    def _on_device(self, ev: DeviceStatus, ts: float, out: list) -> None:
        if ev.component == "camera" or ev.component.startswith("scanner"):
            if ev.status == "down":
                self.down.add(ev.component)
                if self.tx:
                    self.tx.unverified = True
            else:
                self.down.discard(ev.component)

    def _on_staff(self, ev: StaffAction, ts: float, out: list) -> None:
        # Alerts of a basket that already closed stay until staff have looked.
        for aid in [ev.alert_id] if ev.alert_id else sorted(self.unreviewed):
            if aid in self.unreviewed:
                a, tid = self.unreviewed.pop(aid)
                cleared = AlertData(
                    **{**a.to_dict(), "resolution": ev.resolution, "detail": f"cleared by {ev.source}"}
                )
                out.append(LaneEvent(ts=ts, type="alert.cleared", transaction_id=tid, data=cleared.to_dict()))
        tx = self.tx
        if tx is None:
            return
        ids = [ev.alert_id] if ev.alert_id else sorted(tx.open_alerts)
        for aid in ids:
            if aid not in tx.open_alerts:
                continue
            tx.open_alerts.discard(aid)
            tx.resolutions[ev.resolution] = tx.resolutions.get(ev.resolution, 0) + 1
            a = tx.alerts[aid]
            cleared = AlertData(
                **{**a.to_dict(), "resolution": ev.resolution, "detail": f"cleared by {ev.source}"}
            )
            out.append(self._event(ts, "alert.cleared", cleared))
        if ev.resolution == "customer_left":
            self._close_tx(ts, out, "customer_left")

    # ---------------------------------------------------------- decisions

    def _advance(self, ts: float, out: list) -> None:
        """Let time pass up to ``ts``: late-match windows close, nudges escalate."""
        self.now = ts
        window = self._ms("reacquire_ms")
        for j in [o for o in self.orphans if ts - (o.lost_ts or ts) > window]:
            self.orphans.remove(j)
            if j.state == IN_FLIGHT:
                j.state = CANCELLED  # gone for good before landing: no verdict
        tx = self.tx
        if tx is None:
            return
        self._match(ts, out)
        grace, escalation = self._ms("grace_ms"), self._ms("escalation_ms")
        for j in tx.journeys:
            if j.landed_ts is None:
                continue
            if j.state == LANDED and ts >= j.landed_ts + grace:
                if tx.payment_started:
                    self._raise(j, ts, out)
                else:
                    j.state = PENDING
                    j.alert_type = self._alert_type(j)
                    out.append(self._event(ts, "journey.pending", self._alert_data(j, "")))
            if j.state == PENDING and ts >= j.landed_ts + grace + escalation:
                self._raise(j, ts, out)
        for j, void_ts in list(self.void_watch):
            if not j.in_bag:
                self.void_watch.remove((j, void_ts))  # taken out of the bag: honest
            elif self._repay(j, ts):
                self.void_watch.remove((j, void_ts))  # the void was of a double line: another pays for it
            elif ts >= void_ts + grace + escalation:
                self.void_watch.remove((j, void_ts))
                self._raise(j, ts, out, "void_kept")
        self._check_lonely_scans(ts, out)
        self._check_assist(ts, out)
        if ts - tx.last_activity_ts >= self._ms("idle_timeout_ms") and not any(
            j.state in _OPEN for j in tx.journeys
        ):
            self._close_tx(ts, out, "idle")

    def _glass_presence(self, ev: ZoneEvent, ts: float) -> None:
        spans = self.glass.setdefault(ev.track_id, [])
        if ev.action == "entered":
            spans.append([ts, None])
        elif spans and spans[-1][1] is None:
            # a lost track left the glass when it was last seen, not when the tracker gave up
            # (suite-scan-without-item: a stale box coasting a second kept a barcode sheet excused)
            spans[-1][1] = (
                ev.seen_ts
                if ev.action == "lost" and ev.seen_ts is not None and spans[-1][0] <= ev.seen_ts <= ts
                else ts
            )
        # forget spans older than anything a scan could still be checked against
        horizon = ts - 4 * max(1.0, self._ms("scan_without_item_window_ms"))
        for tid in [
            t for t, sp in self.glass.items() if sp and sp[-1][1] is not None and sp[-1][1] < horizon
        ]:
            del self.glass[tid]

    def _glass_busy(self, lo: float, hi: float) -> bool:
        return any(a <= hi and (b is None or b >= lo) for spans in self.glass.values() for a, b in spans)

    def _check_lonely_scans(self, ts: float, out: list) -> None:
        """A beep with no item or hand over the glass around it: a barcode sheet."""
        tx = self.tx
        if tx is None or not self.cfg.scan_without_item or self.down:
            return
        w = self._ms("scan_without_item_window_ms")
        for i, line in enumerate(tx.scans):
            if line.checked or ts < line.scan.ts + w:
                continue
            line.checked = True
            if line.used or line.voided or line.scan.scanner_id == "pos":
                continue
            if self.catalog.items.get(line.scan.gtin, {}).get("scanned_in_cart"):
                continue  # heavy items scanned in the cart with a handheld
            if self._glass_busy(line.scan.ts - w, line.scan.ts + w):
                continue
            if any(
                j.start_ts - w <= line.scan.ts <= (j.landed_ts if j.landed_ts is not None else ts) + w
                for j in tx.journeys
                if j.state != CANCELLED
            ):
                continue  # an item was on its way across the counter: the glass view was just missed
            ghost = Journey(f"S{i:04d}", -1, "", line.scan.ts, landed_ts=None, state=IN_FLIGHT, scan_index=i)
            self._raise(ghost, ts, out, "scan_without_item")

    def _check_assist(self, ts: float, out: list) -> None:
        """Something has sat on the glass for long without a beep: offer help, once."""
        tx = self.tx
        dwell = self._ms("assist_dwell_ms")
        if tx is None or tx.assist_raised or dwell <= 0 or self.down:
            return
        last_scan = tx.scans[-1].scan.ts if tx.scans else -1e9
        for spans in self.glass.values():
            if spans and spans[-1][1] is None:
                since = max(spans[-1][0], last_scan)
                if ts - since >= dwell:
                    tx.assist_raised = True
                    helper = Journey(f"H{tx.transaction_id}", -1, "", since, state=IN_FLIGHT)
                    self._raise(helper, ts, out, "assist")
                    return

    def _alert_type(self, j: Journey) -> str:
        if j.scan_index is None and self._stacked_with_scanned(j):
            return "multi_item"
        return "missed_scan.pass_over" if j.over_scanner else "missed_scan.bypass"

    def _stacked_with_scanned(self, j: Journey) -> bool:
        """Did ``j`` leave the basket and land together with an item that was scanned?

        One beep for two items carried as one (a stack): the unpaid one is the
        stacking alert, not a missed scan of its own.
        """
        if j.landed_ts is None:
            return False
        return any(k.state == MATCHED and k.landed_ts is not None for k in self._stack_companions(j))

    def _stack_companions(self, j: Journey) -> list:
        """The other journeys that left the basket and landed (or fly) together with ``j``: its stack.

        Where either pick-up was not seen (its start is a guess) the landing
        alone decides: two items set down in the bag within the window.
        """
        tx, w = self.tx, self._ms("stack_window_ms")
        if tx is None or w <= 0:
            return []

        def moving_with(k: Journey) -> bool:  # flying now, seen moving with another item
            return (
                k.state == IN_FLIGHT
                and k.lost_ts is None
                and k.landed_ts is None
                and self.tracks.get(k.track_id, _TrackSeen()).moved_with >= 2
            )

        def one_hand(k: Journey) -> bool:
            # Set down by one hand: they were in it together, however late the camera saw
            # one leave the basket (kset12 normal-141414-021: the back of a stack, 1 s late).
            return (
                k.landed_ts is not None
                and j.landed_ts is not None
                and k.landed_carrier is not None
                and k.landed_carrier == j.landed_carrier
                and k.landed_carrier >= 0
            )

        return [
            k
            for k in tx.journeys
            if k is not j
            and k.state != CANCELLED
            and (
                abs(k.start_ts - j.start_ts) <= w
                or one_hand(k)
                or (
                    (k.start_guessed or j.start_guessed)
                    and (
                        (k.landed_ts is not None and j.landed_ts is not None)
                        or moving_with(k)
                        or moving_with(j)
                    )
                )
            )
            and (k.landed_ts is None or j.landed_ts is None or abs(k.landed_ts - j.landed_ts) <= w)
        ]

    def _alert_data(self, j: Journey, alert_id: str, resolution: str = "", detail: str = "") -> AlertData:
        gtin, scan_ts = "", None
        if j.scan_index is not None and self.tx:
            gtin = self.tx.scans[j.scan_index].scan.gtin
            scan_ts = self.tx.scans[j.scan_index].scan.ts
        return AlertData(
            alert_id=alert_id,
            alert_type=j.alert_type or self._alert_type(j),
            journey_id=j.journey_id,
            track_id=j.track_id,
            label=j.label,
            gtin=gtin,
            after_payment=j.after_payment or bool(self.tx and self.tx.payment_started),
            landed_ts=j.landed_ts,
            scan_ts=scan_ts,
            resolution=resolution,
            detail=detail,
        )

    def _raise(self, j: Journey, ts: float, out: list, alert_type: str = "") -> None:
        tx = self.tx
        assert tx is not None
        if self.down or j.state == UNVERIFIED:
            j.state = UNVERIFIED  # a blind lane must not accuse anyone
            tx.unverified = True
            return
        alert_type = alert_type or self._alert_type(j)
        key = (j.journey_id, alert_type)
        if any((a.journey_id, a.alert_type) == key for a in tx.alerts.values()):
            return  # one alert per (transaction, journey, type)
        self._n_alert += 1
        j.alert_id = f"{tx.transaction_id}-A{self._n_alert:03d}"
        j.alert_type = alert_type
        if alert_type.startswith("missed_scan") or (alert_type == "multi_item" and j.scan_index is None):
            j.state = ALERTED  # an item that went unpaid (the stacked one included)
        data = self._alert_data(j, j.alert_id)
        tx.alerts[j.alert_id] = data
        tx.open_alerts.add(j.alert_id)
        out.append(self._event(ts, "alert.raised", data))

    def _self_correct(self, j: Journey, ts: float, out: list, how: str) -> None:
        tx = self.tx
        assert tx is not None
        was_alert = j.state == ALERTED
        j.state = CORRECTED
        tx.self_corrected += 1
        if was_alert and j.alert_id in tx.open_alerts:
            tx.open_alerts.discard(j.alert_id)
        out.append(
            self._event(ts, "alert.self_corrected", self._alert_data(j, j.alert_id, "self_corrected", how))
        )

    def _decide_open(self, tx: Transaction, ts: float, out: list) -> None:
        """Payment start (or the end of the basket) decides every journey still waiting."""
        self._match(ts, out)
        for j in tx.journeys:
            if j.state in _OPEN:
                self._raise(j, ts, out)

    def _match(self, ts: float, out: list) -> None:
        """Global assignment of waiting journeys to scan lines, closest time first.

        A scan line of quantity N covers up to N journeys; a journey may be
        covered by a scan up to ``match_before_ms`` before it passed the
        scanner and up to ``match_after_ms`` after it landed (late beep).
        """
        tx = self.tx
        if tx is None:
            return
        landed = [j for j in tx.journeys if j.state in (LANDED, PENDING, ALERTED) and j.landed_ts is not None]
        if not landed:
            return
        # Items still over the glass compete for the scans too, so a bypassed
        # item that lands first cannot steal the beep of the item being scanned.
        # Not once their track is lost: a second box on the item that landed
        # would keep its beep from it (kset4 normal-9001-030: loose apples on the scale).
        waiting = landed + [
            j
            for j in tx.journeys
            if j.state == IN_FLIGHT and j.scan_zone_ts is not None and j.lost_ts is None
        ]
        slots = []
        for i, line in enumerate(tx.scans):
            for _ in range(line.quantity - line.used if not line.voided else 0):
                slots.append(i)
        if not slots:
            return
        big = 1e9
        cost = np.full((len(waiting), len(slots)), big)
        for a, j in enumerate(waiting):
            lo, hi = self._window(j, ts)
            # An item seen over the glass is the likelier owner of a beep.
            penalty = 0.0 if j.over_scanner else BYPASS_PENALTY_S
            end = j.landed_ts if j.landed_ts is not None else ts
            for b, i in enumerate(slots):
                s_ts = tx.scans[i].scan.ts
                if not lo <= s_ts <= hi:
                    continue
                if tx.scans[i].scan.scanner_id == "pos":
                    # Keyed on the kiosk (produce): any time while the item is carried, glass or not.
                    cost[a, b] = max(0.0, j.start_ts - s_ts, s_ts - end)
                elif j.scan_zone_ts is not None:
                    # a beep while the item was over the glass fits it best; the closest to its arrival breaks ties
                    glass_end = j.glass_end_ts if j.glass_end_ts is not None else end
                    off = max(0.0, j.scan_zone_ts - s_ts, s_ts - max(glass_end, j.scan_zone_ts))
                    cost[a, b] = off + 0.01 * abs(s_ts - j.ref_ts) + (BEHIND_PENALTY_S if j.behind else 0.0)
                else:
                    cost[a, b] = abs(s_ts - j.ref_ts) + penalty
        rows, cols = linear_sum_assignment(cost)
        for a, b in zip(rows, cols):
            if cost[a, b] >= big:
                continue
            j, line_i = waiting[a], slots[b]
            if j.state == IN_FLIGHT:
                continue  # claimed, committed when it lands
            line = tx.scans[line_i]
            line.used += 1
            j.scan_index = line_i
            late = tx.scans[line_i].scan.ts > (j.landed_ts or 0) + self._ms("match_after_ms")
            if j.state == ALERTED or (j.state == PENDING and late):
                self._self_correct(
                    j, ts, out, "scanned after the alert" if j.state == ALERTED else "scanned after the nudge"
                )
                continue
            j.state = MATCHED
            out.append(
                self._event(
                    ts,
                    "journey.matched",
                    JourneyData(
                        j.journey_id, j.track_id, j.label, line.scan.gtin, j.over_scanner, j.landed_ts
                    ),
                )
            )
            self._check_match_quality(j, line, ts, out)
        self._repair_pairs(ts, out)

    def _window(self, j: Journey, ts: float) -> tuple[float, float]:
        """When a line may have paid for this journey."""
        lo = min(j.start_ts, j.ref_ts) - self._ms("match_before_ms")
        hi = (j.landed_ts if j.landed_ts is not None else ts) + self._ms("match_after_ms")
        if (
            j.state in (PENDING, ALERTED)
            and j.scan_zone_ts is not None
            and j.scan_zone_ts > (j.landed_ts or 0.0)
        ):
            # Taken out of the bag and held over the glass again: a later beep
            # is the fix. A beep alone (a barcode sheet) must not clear an alert.
            hi = max(hi, ts)
        return lo, hi

    def _repair_pairs(self, ts: float, out: list) -> None:
        """A line went to an item whose own beep came later: let that item take its beep.

        Pairs are committed when an item lands, but a beep may come just after
        the landing: the line a landed item took may have been the one of an
        item that landed before it (two items over the glass close together),
        or a keyed line (produce) that said only that an item was added. When a
        free line fits the matched item, and its old line fits a waiting item,
        both are paid: one more item matched, the shortest augmenting path.
        Never for an alerted item: only a scan over the glass fixes a staff alert.
        """
        tx = self.tx
        assert tx is not None
        free = [i for i, line in enumerate(tx.scans) if not line.voided and line.used < line.quantity]
        if not free:
            return
        for p in [j for j in tx.journeys if j.state in (LANDED, PENDING) and j.landed_ts is not None]:
            lo_p, hi_p = self._window(p, ts)
            for m in tx.journeys:
                if m.state != MATCHED or m.scan_index is None:
                    continue
                old = tx.scans[m.scan_index]
                if old.voided or not lo_p <= old.scan.ts <= hi_p:
                    continue
                lo_m, hi_m = self._window(m, ts)
                fits = [
                    i
                    for i in free
                    if tx.scans[i].used < tx.scans[i].quantity and lo_m <= tx.scans[i].scan.ts <= hi_m
                ]
                if not fits:
                    continue
                new = min(fits, key=lambda i: abs(tx.scans[i].scan.ts - m.ref_ts))
                tx.scans[new].used += 1
                p.scan_index, m.scan_index, p.state = m.scan_index, new, MATCHED
                out.append(
                    self._event(
                        ts,
                        "journey.matched",
                        JourneyData(
                            p.journey_id, p.track_id, p.label, old.scan.gtin, p.over_scanner, p.landed_ts
                        ),
                    )
                )
                self._check_match_quality(m, tx.scans[new], ts, out)
                self._check_match_quality(p, old, ts, out)
                break

    def _repay(self, j: Journey, ts: float) -> bool:
        """A matched item whose line was voided takes a free line that fits it, if one is left."""
        tx = self.tx
        assert tx is not None
        lo, hi = self._window(j, ts)
        fits = [
            i
            for i, line in enumerate(tx.scans)
            if not line.voided and line.used < line.quantity and lo <= line.scan.ts <= hi
        ]
        if not fits:
            return False
        j.scan_index = min(fits, key=lambda i: abs(tx.scans[i].scan.ts - j.ref_ts))
        tx.scans[j.scan_index].used += 1
        return True

    def _check_match_quality(self, j: Journey, line: ScanLine, ts: float, out: list) -> None:
        """Stacking and ticket switching, once a journey is paired with its line."""
        remaining = line.quantity - line.used + 1
        if j.group_size > max(1, remaining) and not self._stack_companions(j):
            # The stack is one box to the camera: this journey is the only place to say so.
            # With its companions tracked each is decided on its own (the unpaid one is the
            # alert, after the grace in which a second beep may still come): one alert a stack.
            self._raise(j, ts, out, "multi_item")
        expected = self.catalog.items.get(line.scan.gtin, {}).get("label")
        if expected and j.label and expected != j.label and self._label_is_sure(j, expected):
            self._raise(j, ts, out, "mismatch")

    def _label_is_sure(self, j: Journey, expected: str) -> bool:
        """Ticket switching needs the camera to disagree consistently, not in one flicker.

        The track's label votes (one per zone event) since the item left the
        basket must never have said the scanned product, and the seen label must
        carry at least two of them. Votes from before the carry are left out: in
        a full basket the tracker swaps identities between items (kset4
        normal-9001-012: a soda's track was "juice" while it sat by the juice).
        """
        if j.behind:
            return False  # a sliver's class is no evidence of a ticket switch (kset5 normal-31337-014)
        seen = self.tracks.get(j.track_id)
        votes: dict = {}
        for t, label in seen.label_log if seen is not None else ():
            if t >= j.start_ts:
                votes[label] = votes.get(label, 0) + 1
        if not votes and seen is not None:
            votes = seen.labels
        if not votes:
            return True  # no history (engine-only replays): trust the label given
        return votes.get(expected, 0) == 0 and votes.get(j.label, 0) >= 2
