"""Journey building: item zone events in, journeys (basket → glass → bag) out, with the tracker repaired.

The tracker loses fast carries, swaps identities, gives a bagged item a
second box and drags basket boxes along with a carry. Each rule here
teaches the lane one way the camera misleads it, so that one item makes one
journey, landed once. The tables those rules need live in one ``TrackBook``.

What this module needs from the engine (the open basket, a new journey,
matching and self-correction) it asks through ``Basket``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from edge_app.checkout.alerts import stack_companions
from edge_app.checkout.state import (
    ALERTED,
    CANCELLED,
    IN_FLIGHT,
    LANDED,
    PENDING,
    UNVERIFIED,
    Journey,
    Parked,
    TrackSeen,
    Transaction,
    seconds,
)
from edge_app.config import CheckoutConfig
from edge_app.events import LaneEvent, Zone, ZoneEvent

#: two boxes seen together this long are two items, not one box re-identified
SEEN_TOGETHER_S = 0.3


class Basket(Protocol):
    """What journey building asks of the engine."""

    tx: Transaction | None
    down: set[str]

    def new_journey(self, track_id: int, label: str, ts: float, out: list[LaneEvent]) -> Journey:
        """A journey in the open transaction (opened for it if need be)."""
        ...

    def match(self, ts: float, out: list[LaneEvent]) -> None: ...

    def self_correct(self, j: Journey, ts: float, out: list[LaneEvent], how: str) -> None: ...


class BagSpot(NamedTuple):
    """Where an item sits in the bag (normalised frame coordinates)."""

    x: float
    y: float
    #: when its track was lost (None: still seen)
    lost_ts: float | None


class LostInBasket(NamedTuple):
    """An item track lost in the basket area: maybe a carry the camera lost at once."""

    lost_ts: float
    label: str
    x: float | None
    y: float | None


class BagNewcomer(NamedTuple):
    """A track first seen in the bag, taken for the baseline (unless a carry lost later claims it)."""

    entered_ts: float
    track_id: int


#: a track with no zone event for this long is forgotten at the end of a basket
TRACK_FORGET_S = 3600.0


@dataclass
class TrackBook:
    """Every track seen, and the tables the tracker repairs need."""

    tracks: dict[int, TrackSeen] = field(default_factory=dict)
    #: journeys whose track was lost in flight, waiting for a new track to pick them up
    orphans: list[Journey] = field(default_factory=list)
    #: track ids whose journey a newer track took over: their later events are ignored
    superseded: set[int] = field(default_factory=set)
    bag_spots: dict[int, BagSpot] = field(default_factory=dict)
    pick_lost: list[LostInBasket] = field(default_factory=list)
    bag_newcomers: list[BagNewcomer] = field(default_factory=list)


class JourneyBuilder:
    """Turns item zone events into journeys of the basket ``lane`` holds."""

    def __init__(self, config: CheckoutConfig, lane: Basket):
        self.cfg = config
        self.lane = lane
        self.book = TrackBook()
        self._entered: dict[str, Callable[[ZoneEvent, TrackSeen, float, list[LaneEvent]], None]] = {
            Zone.PICK: self._entered_pick,
            Zone.GO_BACK: self._entered_go_back,
            Zone.SCAN: self._entered_scan,
            Zone.BAG: self._entered_bag,
        }

    @property
    def reacquire_s(self) -> float:
        return seconds(self.cfg.reacquire_ms)

    # ------------------------------------------------------------ lifecycle

    def on_item(self, ev: ZoneEvent, ts: float, out: list[LaneEvent]) -> None:
        """One zone event of an item track."""
        book = self.book
        if ev.track_id in book.superseded:
            if ev.action == "lost":
                book.superseded.discard(ev.track_id)
                book.tracks.pop(ev.track_id, None)
            return
        seen = self._admit(ev, ts, out)
        if seen is None:
            return
        if ev.action == "lost":
            self._lost(ev, seen, ts, out)
        elif ev.action == "exited":
            self._exited(ev, seen, ts, out)
        else:
            seen.zones.add(ev.zone)
            handler = self._entered.get(ev.zone)
            if handler is not None:
                handler(ev, seen, ts, out)

    def expire_orphans(self, ts: float) -> None:
        """A carry whose track was lost and not picked up in time is gone for good: no verdict."""
        if not self.book.orphans:
            return
        window = self.reacquire_s
        for j in [o for o in self.book.orphans if ts - (o.lost_ts or ts) > window]:
            self.book.orphans.remove(j)
            if j.state == IN_FLIGHT:
                j.state = CANCELLED

    def end_basket(self, ts: float) -> None:
        """Tracks stay (baseline for the next shopper), journeys go; a track silent for
        ``TRACK_FORGET_S`` is forgotten, so a lane that runs for weeks keeps a bounded book."""
        book = self.book
        book.tracks = {
            tid: seen for tid, seen in book.tracks.items() if ts - seen.last_ts < TRACK_FORGET_S
        }
        book.superseded &= book.tracks.keys()
        book.pick_lost = []
        book.bag_spots = {tid: spot for tid, spot in book.bag_spots.items() if spot.lost_ts is None}
        for seen in book.tracks.values():
            seen.journey = None
            seen.seen_outside_bag = False

    # ------------------------------------------------------------ admission

    def _admit(self, ev: ZoneEvent, ts: float, out: list[LaneEvent]) -> TrackSeen | None:
        """The record of the event's track (a new one for a new track), its label vote counted.

        None: the event is a second box on an item already in the bag, nothing more.
        """
        book = self.book
        is_new = ev.track_id not in book.tracks
        seen = book.tracks.setdefault(ev.track_id, TrackSeen(first_ts=ts))
        seen.last_ts = ts
        if is_new and ev.action == "entered":
            if (
                ev.zone == Zone.BAG
                and ev.x is not None
                and ev.y is not None
                and self._found_again(ev, ts)
            ):
                book.bag_spots[ev.track_id] = BagSpot(ev.x, ev.y, None)
                return None  # a second box on an item already in the bag: the same item, baseline
            if ev.zone in (Zone.SCAN, Zone.BAG):
                self._reacquire(ev, seen, ts, out)
            elif ev.zone == Zone.PICK and ev.x is not None and ev.y is not None:
                self._forget_lost_on_spot(ev.x, ev.y)
        if ev.label:
            seen.labels[ev.label] = seen.labels.get(ev.label, 0) + 1
            seen.label_log.append((ts, ev.label))
            seen.last_label = max(seen.labels, key=seen.labels.__getitem__)
        seen.moved_with = max(seen.moved_with, ev.group_size)
        return seen

    def _forget_lost_on_spot(self, x: float, y: float) -> None:
        """A basket item lost and found again on its spot at once is no carry the camera missed
        (that loss would give a bypassed item a second journey)."""
        r = self.cfg.same_spot
        self.book.pick_lost = [
            p
            for p in self.book.pick_lost
            if p.x is None or p.y is None or (p.x - x) ** 2 + (p.y - y) ** 2 > r * r
        ]

    def _found_again(self, ev: ZoneEvent, ts: float) -> bool:
        """Is this new bag box on the spot of an item in the bag (alive, or lost just now)?"""
        r, window = self.cfg.same_spot, self.reacquire_s
        if r <= 0 or ev.x is None or ev.y is None:
            return False
        return any(
            tid != ev.track_id
            and (gone is None or ts - gone <= window)
            and (x - ev.x) ** 2 + (y - ev.y) ** 2 <= r * r
            for tid, (x, y, gone) in self.book.bag_spots.items()
        )

    def _journey_for(
        self, track_id: int, seen: TrackSeen, ts: float, out: list[LaneEvent], label: str
    ) -> Journey:
        if seen.journey is None:
            seen.journey = self.lane.new_journey(track_id, label, ts, out)
        return seen.journey

    def _touch(self, ts: float) -> None:
        if self.lane.tx:
            self.lane.tx.last_activity_ts = ts

    def _land(self, j: Journey) -> None:
        """In the bag: waiting for its line, or unverified while the lane is blind."""
        if self.lane.down:
            j.state = UNVERIFIED
            if self.lane.tx:
                self.lane.tx.unverified = True
        else:
            j.state = LANDED

    # ---------------------------------------------------------------- lost

    def _lost(self, ev: ZoneEvent, seen: TrackSeen, ts: float, out: list[LaneEvent]) -> None:
        book, j = self.book, seen.journey
        if ev.track_id in book.bag_spots:
            x, y, _ = book.bag_spots[ev.track_id]
            book.bag_spots[ev.track_id] = BagSpot(x, y, ts)
        if (
            ev.zone == Zone.PICK
            and j is None
            and not self._carry_began_since(ts - self.reacquire_s)
        ):
            # (A carry that just began elsewhere makes this the tracker's
            # ghost of that item coasting in the basket, not a lost carry.)
            book.pick_lost.append(LostInBasket(ts, seen.last_label, ev.x, ev.y))
        if j is not None and ev.zone == Zone.SCAN and j.glass_end_ts is None:
            j.glass_end_ts = ev.seen_ts if ev.seen_ts is not None and 0 <= ev.seen_ts <= ts else ts
        if j is not None and j.state == IN_FLIGHT and self._dragged_along(j, ev):
            j.state = CANCELLED
            book.tracks.pop(ev.track_id, None)
            return
        if j is not None and j.state == IN_FLIGHT:
            # Vanished before landing (occluded, motion blur): an item track
            # that appears over the glass or in the bag soon after picks it up.
            j.lost_ts = ts
            book.orphans.append(j)
            old = book.tracks.pop(ev.track_id)
            if not self._landed_unseen(j, ev, old, ts, out):
                self._landed_behind(j, ev, old, ts, out)
            return
        book.tracks.pop(ev.track_id, None)

    def _carry_began_since(self, since: float) -> bool:
        tx = self.lane.tx
        return tx is not None and any(
            j.start_ts >= since for j in tx.journeys if j.state != CANCELLED
        )

    def _dragged_along(self, j: Journey, ev: ZoneEvent) -> bool:
        """A basket box the tracker dragged along with a carry, not a carry of its own.

        Its box coasted out of the basket on its prediction beside an item
        really carried, and was never seen again (one bag of apples is several
        apple boxes; a box slides off with the item carried beside it). A
        carry is seen after it leaves the basket.
        """
        tx = self.lane.tx
        if j.start_guessed or ev.seen_ts is None or not 0 <= ev.seen_ts < j.start_ts or tx is None:
            return False
        w = seconds(self.cfg.stack_window_ms)
        return any(  # a carry in flight as this box left the basket, still seen
            k is not j
            and k.state != CANCELLED
            and k.lost_ts is None
            and k.track_id in self.book.tracks
            and k.start_ts <= j.start_ts + w
            and (k.landed_ts is None or k.landed_ts >= j.start_ts)
            for k in tx.journeys
        )

    def _landed_unseen(
        self, j: Journey, ev: ZoneEvent, old: TrackSeen, ts: float, out: list[LaneEvent]
    ) -> bool:
        """A carry reported lost late: did it land while its old box was still coasting?

        The tracker gives up on a track a second after it last saw it; meanwhile
        the item lands under a new id, taken for the baseline because nothing
        had been lost yet. One new box in the bag after the last sighting is
        that item.
        """
        book = self.book
        if ev.seen_ts is None or ev.seen_ts < 0:
            return False
        fresh = [
            n
            for n in book.bag_newcomers
            if ev.seen_ts <= n.entered_ts <= ts
            and n.track_id in book.tracks
            and book.tracks[n.track_id].journey is None
        ]
        if len(fresh) != 1:
            return False
        landed_at, tid = fresh[0]
        book.bag_newcomers.remove(fresh[0])
        book.orphans.remove(j)
        seen = book.tracks[tid]
        seen.journey, seen.seen_outside_bag = j, True
        seen.label_log = sorted(old.label_log + seen.label_log)  # one item: the carry's looks count
        for label in old.labels:
            seen.labels[label] = seen.labels.get(label, 0) + old.labels[label]
        j.track_id, j.lost_ts, j.in_bag, j.landed_ts = tid, None, True, landed_at
        j.label = seen.last_label or j.label
        self._land(j)
        self.lane.match(ts, out)
        return True

    def _landed_behind(
        self, j: Journey, ev: ZoneEvent, old: TrackSeen, ts: float, out: list[LaneEvent]
    ) -> bool:
        """A box that moved with another and vanished as that one landed: the back of a stack.

        Two items carried stacked show the back one as a sliver; the detector
        loses it as the pair goes down into the bag. It landed with its
        companion, and is paid or is the stacking alert.
        """
        if old.moved_with < 2:
            return False
        last_seen = ev.seen_ts if ev.seen_ts is not None and ev.seen_ts >= 0 else ts
        tx = self.lane.tx
        w = seconds(self.cfg.stack_window_ms)
        companions = stack_companions(j, tx.journeys, self.book.tracks, w) if tx is not None else []
        with_it = [k for k in companions if self._carried_with(k, old, last_seen, ts)]
        if not with_it:
            return False
        self.book.orphans.remove(j)
        j.lost_ts, j.in_bag, j.landed_ts = (
            None,
            True,
            min(k.landed_ts for k in with_it if k.landed_ts is not None),
        )
        j.behind = True
        self._land(j)
        self.lane.match(ts, out)
        return True

    def _carried_with(self, k: Journey, old: TrackSeen, last_seen: float, ts: float) -> bool:
        """Did ``k`` land, moving with another, between the lost box's last sighting and now?"""
        kseen = self.book.tracks.get(k.track_id)
        w = seconds(self.cfg.stack_window_ms)
        return (
            kseen is not None
            and kseen.moved_with >= 2
            and k.in_bag
            and k.landed_ts is not None
            and last_seen - w <= k.landed_ts <= ts
            # a box first seen mid-carry beside the item is that item twice, not a second one
            and not k.start_guessed
            # both seen for a while: an id switch shows the two boxes a frame or two at once;
            # the back of a stack is seen all the way (0.47-1.3 s)
            and last_seen - max(old.first_ts, kseen.first_ts) >= SEEN_TOGETHER_S
        )

    # ---------------------------------------------------------- reacquire

    def _reacquire(self, ev: ZoneEvent, seen: TrackSeen, ts: float, out: list[LaneEvent]) -> None:
        """A new track over the glass or in the bag: maybe a carry whose track was lost or swapped."""
        book, window = self.book, self.reacquire_s
        live = [
            j for j in book.orphans if j.state == IN_FLIGHT and ts - (j.lost_ts or ts) <= window
        ]
        book.pick_lost = [p for p in book.pick_lost if ts - p.lost_ts <= window]
        j: Journey | None
        if live:
            j = max(live, key=lambda o: o.lost_ts or 0.0)
            book.orphans.remove(j)
        elif book.pick_lost:
            # Lost in the basket and a new item appears over the glass or in the
            # bag soon after: the camera lost a fast carry (a bypass, often).
            lost_ts, label, _, _ = book.pick_lost.pop()
            seen.last_label = seen.last_label or label
            j = self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
            j.start_ts, j.start_guessed = lost_ts, True
            seen.seen_outside_bag = True
            return
        elif ev.zone == Zone.BAG:
            j = self._take_over(ts)
            if j is None:
                return
        else:
            return
        j.track_id = ev.track_id
        j.lost_ts = None
        seen.journey = j
        seen.seen_outside_bag = True

    def _take_over(self, ts: float) -> Journey | None:
        """The tracker may swap ids mid-carry before it reports the old id lost.

        A new track landing while exactly one item is in flight, not on the
        glass, is that item. The old id's later events are ignored.
        """
        tx, book = self.lane.tx, self.book
        flight_max = seconds(self.cfg.flight_max_ms)
        flying = [
            j
            for j in (tx.journeys if tx else [])
            if j.state == IN_FLIGHT
            and j.lost_ts is None
            and ts - j.start_ts <= flight_max
            and not (j.track_id in book.tracks and Zone.SCAN in book.tracks[j.track_id].zones)
        ]
        if len(flying) != 1:
            return None
        j = flying[0]
        book.superseded.add(j.track_id)
        old = book.tracks.get(j.track_id)
        if old is not None:
            old.journey = None
        return j

    # ------------------------------------------------------------- exited

    def _exited(self, ev: ZoneEvent, seen: TrackSeen, ts: float, out: list[LaneEvent]) -> None:
        seen.zones.discard(ev.zone)
        j = seen.journey
        if ev.zone == Zone.PICK:
            self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
            seen.seen_outside_bag = True
        elif ev.zone == Zone.BAG and j is not None:
            j.in_bag = False
        elif ev.zone == Zone.SCAN and j is not None:
            j.glass_end_ts = ts
        elif ev.zone == Zone.GO_BACK and seen.parked is not None:
            # Carried over the go-back area on its way round the scanner, not put
            # there: the carry goes on (a bypass over the top of the scanner).
            parked, entered_ts = seen.parked
            seen.parked = None
            if (
                j is None
                and parked.state == CANCELLED
                and ts - entered_ts < seconds(self.cfg.go_back_dwell_ms)
            ):
                parked.state = IN_FLIGHT
                seen.journey = parked

    # ------------------------------------------------------------ entered

    def _entered_pick(
        self, ev: ZoneEvent, seen: TrackSeen, ts: float, out: list[LaneEvent]
    ) -> None:
        seen.seen_outside_bag = True
        j = seen.journey
        if j is not None and j.state in (PENDING, ALERTED) and not j.in_bag:
            self.lane.self_correct(j, ts, out, "back in the basket")
        elif j is not None and j.state == IN_FLIGHT:
            j.state = CANCELLED  # changed their mind before the bag
            seen.journey = None

    def _entered_go_back(
        self, ev: ZoneEvent, seen: TrackSeen, ts: float, out: list[LaneEvent]
    ) -> None:
        j = seen.journey
        if j is not None and j.state in (PENDING, ALERTED, LANDED):
            self.lane.self_correct(j, ts, out, "put in go-back")
        elif j is not None and j.state == IN_FLIGHT:
            j.state = CANCELLED
            seen.journey = None
            seen.parked = Parked(j, ts)

    def _entered_scan(
        self, ev: ZoneEvent, seen: TrackSeen, ts: float, out: list[LaneEvent]
    ) -> None:
        seen.seen_outside_bag = True
        guessed = seen.journey is None and Zone.PICK not in seen.zones  # first seen over the glass
        j = self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
        j.start_guessed = j.start_guessed or guessed
        j.over_scanner = True
        if j.scan_zone_ts is None or j.state in (PENDING, ALERTED):
            j.scan_zone_ts, j.glass_end_ts = ts, None
        self._touch(ts)

    def _entered_bag(self, ev: ZoneEvent, seen: TrackSeen, ts: float, out: list[LaneEvent]) -> None:
        book = self.book
        if ev.x is not None and ev.y is not None:
            book.bag_spots[ev.track_id] = BagSpot(ev.x, ev.y, None)
        if seen.journey is None and not seen.seen_outside_bag:
            # already in the bag when we first saw it: baseline (unless a carry lost later claims
            # it)
            book.bag_newcomers = [
                n for n in book.bag_newcomers if ts - n.entered_ts <= self.reacquire_s
            ]
            book.bag_newcomers.append(BagNewcomer(ts, ev.track_id))
            return
        j = self._journey_for(ev.track_id, seen, ts, out, seen.last_label)
        j.in_bag = True
        j.label = seen.last_label or j.label
        j.group_size = max(j.group_size, ev.group_size)
        if j.state == IN_FLIGHT:
            j.landed_ts, j.landed_carrier = ts, ev.carrier
            self._land(j)
        self._touch(ts)
        self.lane.match(ts, out)
