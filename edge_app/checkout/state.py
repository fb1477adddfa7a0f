"""The records the CheckoutEngine keeps: journeys, scan lines, the transaction, what it saw of a track.

Plain mutable dataclasses, no behaviour beyond derived values; the rules that
change them live in ``journeys``, ``matching`` and ``alerts``, and the engine
composes those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from edge_app.events import AlertData, AlertType, LaneMode, Scan, Word


class JourneyState(Word):
    """Where an item is on its way from the basket to the bag, and what the lane made of it."""

    IN_FLIGHT = "in_flight"  # left the basket, not in the bag yet
    LANDED = "landed"  # in the bag, waiting for its scan (grace window)
    MATCHED = "matched"  # a scan line covers it
    PENDING = "pending"  # nudge sent, still unmatched
    ALERTED = "alerted"  # staff alert raised
    CORRECTED = "self_corrected"  # the shopper fixed it (scanned late, put back, put in go-back)
    UNVERIFIED = "unverified"  # landed while the lane was blind: never accused
    CANCELLED = "cancelled"  # put in go_back / back in the basket before landing


# The states as module names: short to read, and cheap in the engine's per-step loops
# (looking a member up on its Enum class costs ~0.1 µs on Python 3.11, ten string compares).
IN_FLIGHT = JourneyState.IN_FLIGHT
LANDED = JourneyState.LANDED
MATCHED = JourneyState.MATCHED
PENDING = JourneyState.PENDING
ALERTED = JourneyState.ALERTED
CORRECTED = JourneyState.CORRECTED
UNVERIFIED = JourneyState.UNVERIFIED
CANCELLED = JourneyState.CANCELLED
#: in the bag and still waiting for a line: payment start or the end of the basket decides them
OPEN = (LANDED, PENDING)


def seconds(ms: int) -> float:
    """Config durations are milliseconds; the engine's clock is seconds."""
    return ms / 1000.0


@dataclass
class Journey:
    """One item's trip from the basket to the bag (or not), and the line that paid for it."""

    journey_id: str
    track_id: int
    label: str
    start_ts: float
    over_scanner: bool = False
    scan_zone_ts: float | None = None
    landed_ts: float | None = None
    in_bag: bool = False
    state: JourneyState = JourneyState.IN_FLIGHT
    scan_index: int | None = None
    alert_id: str = ""
    #: the alert it was nudged or alerted for (None: none yet)
    alert_type: AlertType | None = None
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


#: the scanner id of a line keyed on the kiosk (produce): no barcode, no glass
KEYED = "pos"


@dataclass
class ScanLine:
    """One line of the basket: a beep (or a keyed item) that may pay for ``quantity`` items."""

    scan: Scan
    quantity: int
    used: int = 0
    voided: bool = False
    checked: bool = False  # scan_without_item decided

    @property
    def keyed(self) -> bool:
        return self.scan.scanner_id == KEYED


class Parked(NamedTuple):
    """A carry cancelled as it entered go-back, kept in case it was only carried over it."""

    journey: Journey
    entered_ts: float


@dataclass
class TrackSeen:
    """What the camera saw of one item track."""

    zones: set[str] = field(default_factory=set)
    seen_outside_bag: bool = False
    journey: Journey | None = None
    last_label: str = ""
    labels: dict[str, int] = field(default_factory=dict)
    #: (ts, label) of every zone event, so a journey can be judged by what its carry looked like
    label_log: list[tuple[float, str]] = field(default_factory=list)
    #: the most items this track was seen moving with (itself included)
    moved_with: int = 1
    #: its first zone event (about when the camera first saw it)
    first_ts: float = 0.0
    #: its latest zone event (a track silent for an hour is forgotten)
    last_ts: float = 0.0
    #: the carry it was on when it entered go_back: revived if it leaves again soon
    parked: Parked | None = None


@dataclass
class Transaction:
    """One shopper's basket, from the first activity (or the kiosk's start) to its end."""

    transaction_id: str
    start_ts: float
    last_activity_ts: float
    payment_started: bool = False
    unverified: bool = False
    journeys: list[Journey] = field(default_factory=list)
    scans: list[ScanLine] = field(default_factory=list)
    alerts: dict[str, AlertData] = field(default_factory=dict)  # alert_id -> AlertData
    open_alerts: set[str] = field(default_factory=set)
    resolutions: dict[str, int] = field(default_factory=dict)
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
