"""Commands a lane accepts on ``request/<command>``: validation, then one response.

Anything the kiosk, a staff app or an attacker on the store network sends
passes ``parse_request`` first. Only a payload that is valid JSON, an object,
within size limits and exactly the command's model (``extra="forbid"``,
strict types) reaches the app, as that model; everything else gets an error
response and changes nothing. ``dispatch`` never raises.

A request that is an input of the checkout engine (an ``EngineRequest``) says
which: ``to_input(ts)`` stamps it with the time it arrived.

>>> r = parse_request("review/clear", b'{"request_id": "r1", "resolution": "false_alarm"}')
>>> r.command, r.args["resolution"], r.args["alert_id"]
('review/clear', 'false_alarm', '')
>>> r.request.to_input(12.5)
StaffAction(ts=12.5, resolution='false_alarm', alert_id='', source='mqtt')
>>> parse_request("review/clear", b'{"request_id": "r2", "resolution": "shrug"}').request_id
'r2'
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import ErrorDetails

from edge_app.events import (
    EngineInput,
    LightState,
    PosEvent,
    Resolution,
    StaffAction,
    StaffResolution,
)
from edge_app.store_link.envelope import to_json

log = logging.getLogger(__name__)

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_REQUEST_ID = 128
MAX_ERROR_CHARS = 500

_TXN = r"^[A-Za-z0-9_.:-]{1,64}$"
_GTIN = r"^[0-9]{8,14}$"


#: how long and how many executed request ids are remembered (whichever ends first; store_link.gate)
DEDUP_WINDOW_S = 600.0
DEDUP_MAX_IDS = 1000

#: what a caller must know about ``request_id`` (the AsyncAPI document says it per request)
REQUEST_ID_RULES = (
    "Unique per request (a UUID): it comes back in the response. A repeat of a request_id "
    f"on the same command within {DEDUP_WINDOW_S:g} s (of the last {DEDUP_MAX_IDS} executed) "
    "is not run again: it "
    "gets the first response again, byte for byte, so a kiosk may retry a request it got no "
    "answer to (QoS 1 at-least-once). Each command also has a rate (token bucket); a request "
    "over it runs nothing and gets status error, 'rate limited: ...; retry in N s'."
)


class Request(BaseModel):
    """Every request: a caller-chosen id that comes back in the response."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    request_id: str = Field(min_length=1, max_length=MAX_REQUEST_ID, description=REQUEST_ID_RULES)


class EngineRequest(Request):
    """A request the checkout engine decides on: it becomes one engine input."""

    def to_input(self, ts: float) -> EngineInput:
        """The engine input, stamped ``ts``: the lane clock when the request arrived."""
        raise NotImplementedError


class TransactionStart(EngineRequest):
    """The kiosk opened a basket: items already in the bag become the baseline."""

    transaction_id: str = Field(pattern=_TXN, description="The POS basket id")

    def to_input(self, ts: float) -> PosEvent:
        return PosEvent(ts, "transaction_start", self.transaction_id)


class TransactionEnd(EngineRequest):
    """The basket closed (paid, cancelled or suspended): the summary is published."""

    transaction_id: str = Field(pattern=_TXN)
    outcome: Literal["paid", "cancelled", "suspended"] = "paid"

    def to_input(self, ts: float) -> PosEvent:
        return PosEvent(ts, "transaction_end", self.transaction_id)


class PaymentStart(EngineRequest):
    """Payment start decides every open journey (pending ones become alerts)."""

    transaction_id: str = Field(pattern=_TXN)

    def to_input(self, ts: float) -> PosEvent:
        return PosEvent(ts, "payment_start", self.transaction_id)


class ItemAdd(EngineRequest):
    """A barcode-less line keyed in at the kiosk (produce, bakery): covers journeys."""

    transaction_id: str = Field("", pattern=r"^([A-Za-z0-9_.:-]{1,64})?$")
    description: str = Field(min_length=1, max_length=200)
    quantity: int = Field(1, ge=1, le=999)
    gtin: str = Field("", pattern=r"^([0-9]{8,14})?$")

    def to_input(self, ts: float) -> PosEvent:
        # the line joins the lane's open basket (the engine opens one if none), as the kiosk means
        return PosEvent(
            ts, "item_added", gtin=self.gtin, quantity=self.quantity, description=self.description
        )


class ItemVoid(EngineRequest):
    """A line removed at the kiosk; if its item stays in the bag: void_kept."""

    transaction_id: str = Field(pattern=_TXN)
    gtin: str = Field(pattern=_GTIN)
    quantity: int = Field(1, ge=1, le=999)

    def to_input(self, ts: float) -> PosEvent:
        return PosEvent(ts, "void", self.transaction_id, gtin=self.gtin, quantity=self.quantity)


class ReviewClear(EngineRequest):
    """Staff cleared the review with a resolution (the MQTT twin of the button)."""

    resolution: StaffResolution
    alert_id: str = Field("", max_length=64, description="Empty: every open alert of the lane")
    staff_id: str = Field("", max_length=64)

    def to_input(self, ts: float) -> StaffAction:
        return StaffAction(ts, Resolution(self.resolution), self.alert_id, source="mqtt")


class ConfigReload(Request):
    """Re-read the lane file (zones, catalog, thresholds) without a restart."""


class Snapshot(Request):
    """Keep an evidence clip of the last seconds now (staff asked, audit)."""

    reason: str = Field("", max_length=200)


class LightTest(Request):
    """Show one light state for a while, so staff can check the lamp and buzzer."""

    state: Literal[tuple(s.value for s in LightState)] = LightState.REVIEW.value  # type: ignore[valid-type]
    duration_ms: int = Field(3000, ge=100, le=30_000)


COMMANDS: dict[str, type[Request]] = {
    "transaction/start": TransactionStart,
    "transaction/end": TransactionEnd,
    "payment/start": PaymentStart,
    "item/add": ItemAdd,
    "item/void": ItemVoid,
    "review/clear": ReviewClear,
    "config/reload": ConfigReload,
    "snapshot": Snapshot,
    "light/test": LightTest,
}

#: answer topics for names we do not know are only echoed when harmless
_SAFE_NAME = re.compile(r"^[a-z0-9_-]{1,32}(/[a-z0-9_-]{1,32})?$")
INVALID_COMMAND_TOPIC = "invalid"


@dataclass(frozen=True)
class CommandRequest:
    """A request that passed validation; the app's handler gets ``request``."""

    command: str
    request_id: str
    request: Request

    @property
    def args(self) -> dict:
        """The request as plain data, defaults filled."""
        return self.request.model_dump()


@dataclass(frozen=True)
class CommandRejected:
    """A request that did not; ``request_id`` is None when none could be read."""

    command: str
    request_id: str | None
    error: str


def response_command(command: str) -> str:
    """Which ``response/<…>`` answers ``command``: itself, or ``invalid`` for junk names."""
    if command in COMMANDS or _SAFE_NAME.match(command):
        return command
    return INVALID_COMMAND_TOPIC


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _readable_request_id(obj: Any) -> str | None:
    if isinstance(obj, dict):
        rid = obj.get("request_id")
        if isinstance(rid, str) and 0 < len(rid) <= MAX_REQUEST_ID:
            return rid
    return None


def _short(errors: list[ErrorDetails]) -> str:
    """Pydantic errors without echoing the (possibly huge) input."""
    parts = []
    for err in errors[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(payload)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)[:MAX_ERROR_CHARS]


def parse_request(command: str, payload: bytes) -> CommandRequest | CommandRejected:
    """Validate one request (pure)."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return CommandRejected(
            command, None, f"payload is {len(payload)} bytes, limit {MAX_PAYLOAD_BYTES}"
        )
    try:
        text = payload.decode("utf-8")
        obj = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return CommandRejected(command, None, f"payload is not JSON: {str(exc)[:200]}")
    rid = _readable_request_id(obj)
    model = COMMANDS.get(command)
    if model is None:
        return CommandRejected(
            command, rid, f"unknown command; known: {', '.join(sorted(COMMANDS))}"
        )
    if not isinstance(obj, dict):
        return CommandRejected(
            command, None, f"payload must be a JSON object, got {type(obj).__name__}"
        )
    try:
        valid = model.model_validate(obj)
    except ValidationError as exc:
        return CommandRejected(command, rid, _short(exc.errors(include_input=False)))
    return CommandRequest(command, valid.request_id, valid)


def response(request_id: str | None, ok: bool, data: Any = None, error: str | None = None) -> dict:
    return {
        "request_id": request_id,
        "status": "ok" if ok else "error",
        "data": data,
        "error": error,
    }


#: the app's side: called with the command name and its validated request
CommandHandler = Callable[[str, Request], dict | None]


class RequestRefused(Exception):
    """A handler's expected refusal (over its rate, say): the text is the error, no traceback."""


@dataclass(frozen=True)
class CommandReply:
    """What to publish on ``response/<command>``."""

    command: str
    body: bytes
    ok: bool


#: why a retained request is refused: the broker would hand it over again on every reconnect
RETAINED_ERROR = "retained request not executed: publish requests with retain=false"


def dispatch(
    command: str, payload: bytes, on_command: CommandHandler | None, retained: bool = False
) -> CommandReply:
    """Validate, call the app for valid requests only, and build the one response.

    Never raises: a handler exception or an unserialisable return value
    becomes an error response (a ``RequestRefused`` without a traceback).
    A ``retained`` request is refused: the broker replays it on every
    reconnect (a stale ``transaction/start`` would close the live
    transaction and turn its pending items into alerts).
    """
    parsed = parse_request(command, payload)
    reply_to = response_command(command)

    def refuse(request_id: str | None, error: str) -> CommandReply:
        return CommandReply(
            reply_to, to_json(response(request_id, False, error=error[:MAX_ERROR_CHARS])), False
        )

    if isinstance(parsed, CommandRejected):
        return refuse(parsed.request_id, parsed.error)
    if retained:
        return refuse(parsed.request_id, RETAINED_ERROR)
    if on_command is None:
        return refuse(parsed.request_id, "this lane accepts no commands")
    try:
        data = on_command(parsed.command, parsed.request)
        if data is not None and not isinstance(data, dict):
            raise TypeError(f"handler returned {type(data).__name__}, expected dict")
        return CommandReply(
            reply_to, to_json(response(parsed.request_id, True, data=data or {})), True
        )
    except RequestRefused as exc:  # expected, maybe 1,000 a second: no traceback in the log
        log.debug("command %s (request %s) refused: %s", command, parsed.request_id, exc)
        return refuse(parsed.request_id, str(exc))
    except Exception as exc:  # the lane stays up whatever the handler does
        log.exception("command %s (request %s) failed", command, parsed.request_id)
        return refuse(parsed.request_id, f"{type(exc).__name__}: {exc}")


def request_schemas() -> dict[str, dict]:
    """JSON Schema of every command's request, for the AsyncAPI document."""
    return {name: model.model_json_schema() for name, model in COMMANDS.items()}


def response_schema() -> dict:
    return {
        "title": "Response",
        "type": "object",
        "properties": {
            "request_id": {
                "type": ["string", "null"],
                "description": "null when the request had none readable",
            },
            "status": {"type": "string", "enum": ["ok", "error"]},
            "data": {"type": ["object", "null"], "description": "the handler's answer when ok"},
            "error": {
                "type": ["string", "null"],
                "description": "why it was refused, when error (e.g. 'rate limited: ...')",
            },
        },
        "required": ["request_id", "status", "data", "error"],
        "additionalProperties": False,
    }
