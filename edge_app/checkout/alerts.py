"""The alert rules: what kind of alert an unpaid journey is, when a match is itself suspicious,
when a beep or a stay on the glass deserves one, and how an alert is raised or self-corrected.

Pure predicates over the basket's records, plus the two steps that file an
alert in the transaction (``raise_alert``, ``self_correct``); the engine
turns what they return into lane events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from edge_app.checkout.glass import GlassLog
from edge_app.checkout.state import (
    ALERTED,
    CANCELLED,
    CORRECTED,
    IN_FLIGHT,
    MATCHED,
    UNVERIFIED,
    Journey,
    ScanLine,
    TrackSeen,
    Transaction,
)
from edge_app.events import AlertData, AlertType

# ------------------------------------------------------------------ stacks


def _moving_with_another(k: Journey, tracks: dict[int, TrackSeen]) -> bool:
    """Flying now, its track seen moving with another item."""
    return (
        k.state == IN_FLIGHT
        and k.lost_ts is None
        and k.landed_ts is None
        and k.track_id in tracks
        and tracks[k.track_id].moved_with >= 2
    )


def _set_down_by_one_hand(k: Journey, j: Journey) -> bool:
    """Set down in the bag by one hand: they were in it together, however late the camera saw
    one of them leave the basket (the back of a stack lags behind the front one)."""
    return (
        k.landed_ts is not None
        and j.landed_ts is not None
        and k.landed_carrier is not None
        and k.landed_carrier == j.landed_carrier
        and k.landed_carrier >= 0
    )


def _left_together(k: Journey, j: Journey, w: float, tracks: dict[int, TrackSeen]) -> bool:
    if abs(k.start_ts - j.start_ts) <= w or _set_down_by_one_hand(k, j):
        return True
    # Where either pick-up was not seen (its start is a guess) the landing alone decides,
    # or, while one still flies, that it is seen moving with another item.
    return (k.start_guessed or j.start_guessed) and (
        (k.landed_ts is not None and j.landed_ts is not None)
        or _moving_with_another(k, tracks)
        or _moving_with_another(j, tracks)
    )


def _landed_together(k: Journey, j: Journey, w: float) -> bool:
    return k.landed_ts is None or j.landed_ts is None or abs(k.landed_ts - j.landed_ts) <= w


def stack_companions(
    j: Journey, journeys: list[Journey], tracks: dict[int, TrackSeen], window_s: float
) -> list[Journey]:
    """The other journeys that left the basket and landed (or fly) together with ``j``: its stack.

    Together means within ``window_s`` of each other (0: stacks are never
    looked for). Where either pick-up was not seen (its start is a guess)
    the landing alone decides: two items set down in the bag within the window.
    """
    if window_s <= 0:
        return []
    return [
        k
        for k in journeys
        if k is not j
        and k.state != CANCELLED
        and _left_together(k, j, window_s, tracks)
        and _landed_together(k, j, window_s)
    ]


def alert_type(j: Journey, companions: list[Journey]) -> AlertType:
    """What an unpaid journey is: the unpaid one of a stack, or a missed scan (over or round the glass).

    One beep for two items carried as one (a stack): the unpaid one is the
    stacking alert, not a missed scan of its own.
    """
    if (
        j.scan_index is None
        and j.landed_ts is not None
        and any(k.state == MATCHED and k.landed_ts is not None for k in companions)
    ):
        return AlertType.MULTI_ITEM
    return AlertType.PASS_OVER if j.over_scanner else AlertType.BYPASS


def carried_more_than_paid(j: Journey, line: ScanLine) -> bool:
    """Seen as a group larger than what is left of its line (this journey's unit counted back in).

    Only the stack's own journey can say so when the stack is one box to the
    camera; with its companions tracked each is decided on its own (the
    unpaid one is the alert, after the grace in which a second beep may
    still come): one alert a stack.
    """
    remaining = line.quantity - line.used + 1
    return j.group_size > max(1, remaining)


# ---------------------------------------------------------- ticket switching


def is_ticket_switch(j: Journey, expected: str | None, seen: TrackSeen | None) -> bool:
    """The beep's product (``expected``: its label in the catalog) is not the one carried."""
    return bool(expected and j.label and expected != j.label and label_is_sure(j, expected, seen))


def label_is_sure(j: Journey, expected: str, seen: TrackSeen | None) -> bool:
    """Ticket switching needs the camera to disagree consistently, not in one flicker.

    The track's label votes (one per zone event) since the item left the
    basket must never have said the scanned product, and the seen label must
    carry at least two of them. Votes from before the carry are left out: in
    a full basket the tracker swaps identities between items (an item's track
    says what it sat next to).
    """
    if j.behind:
        return False  # a sliver's class is no evidence of a ticket switch
    votes: dict[str, int] = {}
    for t, label in seen.label_log if seen is not None else ():
        if t >= j.start_ts:
            votes[label] = votes.get(label, 0) + 1
    if not votes and seen is not None:
        votes = seen.labels
    if not votes:
        return True  # no history (engine-only replays): trust the label given
    return votes.get(expected, 0) == 0 and votes.get(j.label, 0) >= 2


# ------------------------------------------------------------ beeps and glass


def is_scan_without_item(
    line: ScanLine,
    journeys: list[Journey],
    glass: GlassLog,
    catalog_item: dict[str, Any],
    now: float,
    w: float,
) -> bool:
    """A beep with no item or hand over the glass around it (``w`` either side): a barcode sheet."""
    if line.used or line.voided or line.keyed:
        return False
    if catalog_item.get("scanned_in_cart"):
        return False  # heavy items scanned in the cart with a handheld
    if glass.busy(line.scan.ts - w, line.scan.ts + w):
        return False
    # An item on its way across the counter: the glass view was just missed.
    return not any(
        j.start_ts - w <= line.scan.ts <= (j.landed_ts if j.landed_ts is not None else now) + w
        for j in journeys
        if j.state != CANCELLED
    )


def assist_since(
    on_glass: Iterable[float], last_scan: float, now: float, dwell: float
) -> float | None:
    """Something has sat on the glass ``dwell`` seconds without a beep: since when (None: nothing has)."""
    for entered in on_glass:
        since = max(entered, last_scan)
        if now - since >= dwell:
            return since
    return None


class VoidWatch:
    """Items whose scan line was voided: they must leave the bag, or another line must pay for them."""

    def __init__(self) -> None:
        self.watched: list[tuple[Journey, float]] = []

    def add(self, j: Journey, void_ts: float) -> None:
        self.watched.append((j, void_ts))

    def kept(
        self, now: float, grace: float, escalation: float, repay: Callable[[Journey], bool]
    ) -> Iterator[Journey]:
        """The items still in the bag, unpaid, a nudge's grace and escalation after their void:
        ``void_kept`` (yielded one by one, as they are decided)."""
        for j, void_ts in list(self.watched):
            if not j.in_bag:
                self.watched.remove((j, void_ts))  # taken out of the bag: honest
            elif repay(j):
                self.watched.remove(
                    (j, void_ts)
                )  # the void was of a double line: another pays for it
            elif now >= void_ts + grace + escalation:
                self.watched.remove((j, void_ts))
                yield j

    def forget(self) -> None:
        """The basket ended: its voids go with it (the next basket's lines are not theirs).

        A void still undecided then is not called ``void_kept``: which line a void took is
        not yet sure enough (issue 22: a void can take the line a late beep needed), and an
        honest shopper must never be accused.
        """
        self.watched.clear()


# ------------------------------------------------------- raise, self-correct


def alert_data(
    tx: Transaction | None,
    j: Journey,
    alert_id: str,
    kind: AlertType,
    resolution: str = "",
    detail: str = "",
) -> AlertData:
    """The alert's payload, with the line involved (if any) and whether payment had begun."""
    gtin, scan_ts = "", None
    if j.scan_index is not None and tx:
        gtin = tx.scans[j.scan_index].scan.gtin
        scan_ts = tx.scans[j.scan_index].scan.ts
    return AlertData(
        alert_id=alert_id,
        alert_type=kind.value,
        journey_id=j.journey_id,
        track_id=j.track_id,
        label=j.label,
        gtin=gtin,
        after_payment=j.after_payment or bool(tx and tx.payment_started),
        landed_ts=j.landed_ts,
        scan_ts=scan_ts,
        resolution=resolution,
        detail=detail,
    )


def raise_alert(
    tx: Transaction, j: Journey, kind: AlertType, *, blind: bool, number: Callable[[], int]
) -> AlertData | None:
    """File an alert on ``j`` in ``tx``; None when none is raised.

    A blind lane (camera or scanner down) must not accuse anyone: the journey
    is unverified instead, and so is the transaction. One alert per
    (transaction, journey, type). ``number`` gives the next alert number.
    """
    if blind or j.state == UNVERIFIED:
        j.state = UNVERIFIED
        tx.unverified = True
        return None
    key = (j.journey_id, kind)
    if any((a.journey_id, a.alert_type) == key for a in tx.alerts.values()):
        return None
    j.alert_id = f"{tx.transaction_id}-A{number():03d}"
    j.alert_type = kind
    if kind.is_missed_scan or (kind == AlertType.MULTI_ITEM and j.scan_index is None):
        j.state = ALERTED  # an item that went unpaid (the stacked one included)
    data = alert_data(tx, j, j.alert_id, kind)
    tx.alerts[j.alert_id] = data
    tx.open_alerts.add(j.alert_id)
    return data


def self_correct(tx: Transaction, j: Journey) -> None:
    """The shopper fixed it (a late scan, put back, put in go-back): its alert, if any, closes."""
    was_alert = j.state == ALERTED
    j.state = CORRECTED
    tx.self_corrected += 1
    if was_alert and j.alert_id in tx.open_alerts:
        tx.open_alerts.discard(j.alert_id)
