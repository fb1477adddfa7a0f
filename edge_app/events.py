"""The lane's one event vocabulary.

Every stage speaks these frozen dataclasses: the camera stage emits
``ZoneEvent``, the scanner reader ``Scan``, the kiosk ``PosEvent``, the
CheckoutEngine answers with ``LaneEvent`` s. The JSON payloads published on
MQTT and their JSON Schemas are derived from here and nowhere else
(``payload_schemas()``), so a field added here shows up in the schema, the
AsyncAPI document and the tests at once.

All ``ts`` fields are seconds on the lane's monotonic clock (the scenario's
clock on replay); wall-clock time is added only in the MQTT envelope.

>>> s = Scan(ts=1.5, scanner_id="flatbed", gtin="05000112637939", symbology="EAN-13")
>>> s.to_dict()["gtin"]
'05000112637939'
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

SCHEMA_VERSION = "checkout/v1"


class Word(str, enum.Enum):
    """A word of the vocabulary: compares, hashes, prints and serialises as its value."""

    def __repr__(self) -> str:
        return repr(self.value)

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)


class Zone(Word):
    """The calibrated areas of a lane, in the order an item crosses them."""

    PICK = "pick"  # the basket or cart
    SCAN = "scan"  # over the scanner glass
    BAG = "bag"  # the bagging area
    GO_BACK = "go_back"  # the tray for items the shopper does not want
    IGNORE = "ignore"  # never tracked (a screen, a neighbouring lane)


ZONE_NAMES = tuple(z.value for z in Zone)


class AlertType(Word):
    PASS_OVER = "missed_scan.pass_over"  # carried over the glass, no beep
    BYPASS = "missed_scan.bypass"  # carried round the scanner
    MULTI_ITEM = "multi_item"  # two items carried as one, one beep
    MISMATCH = "mismatch"  # the beep's product is not the one carried (ticket switching)
    SCAN_WITHOUT_ITEM = "scan_without_item"  # a beep with nothing over the glass (a barcode sheet)
    VOID_KEPT = "void_kept"  # a voided item stayed in the bag
    ASSIST = "assist"  # something sat on the glass without a beep: offer help

    @property
    def is_missed_scan(self) -> bool:
        return self in (AlertType.PASS_OVER, AlertType.BYPASS)


class Resolution(Word):
    """How staff closed a review (button or ``review/clear``)."""

    ITEM_ADDED = "item_added"
    FALSE_ALARM = "false_alarm"
    CUSTOMER_LEFT = "customer_left"


#: what the staff button and ``review/clear`` accept
StaffResolution = Literal["item_added", "false_alarm", "customer_left"]


class _Vocabulary:
    """Mixin: JSON-ready dict of a frozen dataclass."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, enum.Enum):
                value = value.value
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


# --------------------------------------------------------------------------
# Inputs to the CheckoutEngine
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Scan(_Vocabulary):
    """One barcode read by a lane scanner, normalised to GTIN-14."""

    ts: float
    scanner_id: str
    gtin: str
    symbology: str = "unknown"
    raw: str = ""
    quantity: int = 1


@dataclass(frozen=True)
class ZoneEvent(_Vocabulary):
    """A tracked item or hand entered or left a calibrated zone (or was lost)."""

    ts: float
    track_id: int
    kind: Literal["item", "hand"]
    zone: Zone | Literal[""]  # "": a track lost outside every zone
    action: Literal["entered", "exited", "lost"]
    label: str = ""
    #: how many item tracks moved together with this one (stacking evidence)
    group_size: int = 1
    #: the hand track holding the item when the event happened (None: none, or unknown):
    #: two items set down by one hand went together
    carrier: int | None = None
    #: where the track's centre was, normalised 0..1 (None: unknown)
    x: float | None = None
    y: float | None = None
    #: a lost track: when the camera last saw it (the tracker gives up on it later; None: unknown)
    seen_ts: float | None = None

    @property
    def carried(self) -> bool:
        """Whether a hand was holding the item."""
        return self.carrier is not None


@dataclass(frozen=True)
class PosEvent(_Vocabulary):
    """What the kiosk/POS tells the lane (from MQTT requests or a scenario)."""

    ts: float
    kind: Literal["transaction_start", "transaction_end", "payment_start", "item_added", "void"]
    transaction_id: str = ""
    gtin: str = ""
    quantity: int = 1
    description: str = ""


#: a component's health, as ``status/<component>`` says it
ComponentState = Literal["ok", "degraded", "down"]


@dataclass(frozen=True)
class DeviceStatus(_Vocabulary):
    """Health of one lane component; a blind lane must not accuse anyone."""

    ts: float
    component: str  # camera, scanner/<id>, light, outbox, evidence, model, button
    status: ComponentState
    detail: str = ""


@dataclass(frozen=True)
class StaffAction(_Vocabulary):
    """A member of staff cleared the review (button or MQTT)."""

    ts: float
    resolution: Resolution
    alert_id: str = ""  # empty: clear every open alert of the lane
    source: str = "button"


@dataclass(frozen=True)
class Tick(_Vocabulary):
    """Time passes: lets the engine escalate pending journeys."""

    ts: float


EngineInput = Scan | ZoneEvent | PosEvent | DeviceStatus | StaffAction | Tick


# --------------------------------------------------------------------------
# Outputs: what the lane publishes
# --------------------------------------------------------------------------


class LaneMode(str, enum.Enum):
    IDLE = "idle"
    IN_TRANSACTION = "in_transaction"
    REVIEW_REQUIRED = "review_required"


class LightState(str, enum.Enum):
    """What the review light shows, lowest priority first."""

    OFF = "off"  # app down or not started: never "all fine"
    AVAILABLE = "available"  # green
    ASSIST = "assist"  # yellow: please scan that item
    REVIEW = "review"  # flashing yellow: staff review
    INTERVENTION = "intervention"  # flashing red + buzzer
    FAULT = "fault"  # red: the lane is unhealthy


ALERT_TYPES = tuple(a.value for a in AlertType)

EVENT_TYPES = (
    "transaction.started",
    "transaction.payment_started",
    "transaction.ended",
    "scan.registered",
    "journey.matched",
    "journey.pending",
    "alert.raised",
    "alert.self_corrected",
    "alert.cleared",
)


@dataclass(frozen=True)
class LaneEvent(_Vocabulary):
    """One thing the lane decided or saw, published on ``events``.

    ``data`` holds the type-specific fields documented in ``EVENT_DATA``.
    """

    ts: float
    type: str
    transaction_id: str = ""
    data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown lane event type {self.type!r}")


@dataclass(frozen=True)
class AlertData(_Vocabulary):
    """``data`` of alert.raised / journey.pending / alert.self_corrected / alert.cleared."""

    alert_id: str
    alert_type: str
    journey_id: str = ""
    track_id: int = -1
    label: str = ""
    gtin: str = ""
    after_payment: bool = False
    landed_ts: float | None = None
    scan_ts: float | None = None  # the scan line involved (scan_without_item, mismatch, multi_item)
    resolution: str = ""
    detail: str = ""


@dataclass(frozen=True)
class ScanData(_Vocabulary):
    """``data`` of scan.registered."""

    scanner_id: str
    gtin: str
    symbology: str
    quantity: int = 1


@dataclass(frozen=True)
class JourneyData(_Vocabulary):
    """``data`` of journey.matched."""

    journey_id: str
    track_id: int
    label: str
    gtin: str
    over_scanner: bool
    landed_ts: float


@dataclass(frozen=True)
class TransactionSummary(_Vocabulary):
    """``data`` of transaction.ended: what staff and HQ need per basket."""

    items: int
    scans: int
    alerts: int
    self_corrected: int
    resolutions: dict
    duration_s: float
    seconds_per_item: float | None
    unverified: bool
    alert_types: dict


EVENT_DATA: dict[str, type] = {
    "scan.registered": ScanData,
    "journey.matched": JourneyData,
    "journey.pending": AlertData,
    "alert.raised": AlertData,
    "alert.self_corrected": AlertData,
    "alert.cleared": AlertData,
    "transaction.ended": TransactionSummary,
}


@dataclass(frozen=True)
class LaneStatePayload(_Vocabulary):
    """Retained ``state``: what the kiosk reads to pause payment."""

    mode: str
    light: str
    transaction_id: str
    open_alerts: int
    unverified: bool
    boot_id: str
    version: str
    config_hash: str


@dataclass(frozen=True)
class ComponentStatusPayload(_Vocabulary):
    """Retained ``status/<component>``."""

    component: str
    status: str
    detail: str
    since: str


@dataclass(frozen=True)
class SnapshotReply(_Vocabulary):
    """``response/snapshot`` data: the evidence clip being kept, and the lane as it was asked.

    ``clip`` and ``thumbnail`` are file names in the lane's evidence folder: the
    MJPG clip from ``evidence.pre_s`` before the request to ``post_s`` after,
    complete ``ready_in_s`` seconds after the answer, and the JPEG of the moment
    asked. ``joined``: a clip asked moments before was still recording, and this
    request shares it. The rest is the lane as of its last step (``statuses``:
    component -> ok, degraded or down; ``frames`` processed since start).
    """

    clip: str
    thumbnail: str
    ready_in_s: float
    joined: bool
    reason: str
    mode: str
    transaction_id: str
    open_alerts: int
    pending: int
    statuses: dict[str, str]
    frames: int


#: the ``data`` of a command's ok response, where it is more than free-form
RESPONSE_DATA: dict[str, type] = {"snapshot": SnapshotReply}


@dataclass(frozen=True)
class Envelope(_Vocabulary):
    """The ``events`` payload around every LaneEvent (at-least-once; dedupe on event_id)."""

    schema: str
    event_id: str
    boot_id: str
    seq: int
    ts: str  # ISO-8601 UTC wall clock
    mono_ts: float
    store_id: str
    lane_id: str
    type: str
    transaction_id: str
    data: dict


def payload_schemas() -> dict[str, dict]:
    """JSON Schemas of every published payload, generated from the dataclasses."""
    from pydantic import TypeAdapter

    schemas = {
        "envelope": TypeAdapter(Envelope).json_schema(),
        "state": TypeAdapter(LaneStatePayload).json_schema(),
        "status": TypeAdapter(ComponentStatusPayload).json_schema(),
    }
    for event_type, data_cls in EVENT_DATA.items():
        schemas[f"data/{event_type}"] = TypeAdapter(data_cls).json_schema()
    for command, data_cls in RESPONSE_DATA.items():
        schema = schemas[f"response/{command}/data"] = TypeAdapter(data_cls).json_schema()
        schema["additionalProperties"] = False  # a field the lane adds must be documented first
        schema["description"] = " ".join(schema["description"].split())  # one paragraph
    snapshot = schemas["response/snapshot/data"]["properties"]
    snapshot["mode"]["enum"] = [m.value for m in LaneMode]
    snapshot["statuses"]["additionalProperties"] = {"enum": list(get_args(ComponentState))}
    schemas["envelope"]["properties"]["type"]["enum"] = list(EVENT_TYPES)
    schemas["envelope"]["properties"]["schema"]["const"] = SCHEMA_VERSION
    return schemas
