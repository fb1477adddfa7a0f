"""The lane's MQTT topic tree, with the retain flag and QoS of every topic.

This is the one place that knows topic strings: the client, the HQ monitor,
the AsyncAPI generator and the example broker ACLs all follow ``CONTRACT``.
Pure: no I/O.

>>> t = LaneTopics("checkout/v1", "store-042", "lane-03")
>>> t.status("scanner/flatbed")
'checkout/v1/store-042/lane-03/status/scanner/flatbed'
>>> t.command_of("checkout/v1/store-042/lane-03/request/transaction/start")
'transaction/start'
>>> RULES["events"].qos, RULES["events"].retained
(1, False)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

DEFAULT_PREFIX = "checkout/v1"

#: one topic level of an id (store, lane): what the lane config also allows
_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: a component or command: id levels joined by '/', e.g. scanner/flatbed
_PATH = re.compile(r"^[A-Za-z0-9_-]{1,64}(/[A-Za-z0-9_-]{1,64}){0,3}$")


@dataclass(frozen=True)
class TopicRule:
    """One row of the contract table; ``direction`` is seen from the lane."""

    name: str
    pattern: str  # below <prefix>/<store_id>/<lane_id>/
    retained: bool
    qos: Literal[0, 1]
    direction: Literal["publish", "subscribe"]
    payload: str  # schema name in payload_schemas(), or a plain-text description
    summary: str


CONTRACT: tuple[TopicRule, ...] = (
    TopicRule(
        "availability",
        "availability",
        True,
        1,
        "publish",
        "text: online | offline | stopped",
        "online after every connect; offline is the Last Will (crash, power, network); "
        "stopped after a clean shutdown",
    ),
    TopicRule(
        "state",
        "state",
        True,
        1,
        "publish",
        "state",
        "lane state the kiosk reads to pause payment; republished after every reconnect",
    ),
    TopicRule(
        "status",
        "status/{component}",
        True,
        1,
        "publish",
        "status",
        "health of camera, scanner/<id>, light, outbox, model: ok | degraded | down",
    ),
    TopicRule(
        "events",
        "events",
        False,
        1,
        "publish",
        "envelope",
        "every lane event, at least once, in seq order per boot; dedupe on event_id",
    ),
    TopicRule(
        "stats",
        "stats",
        False,
        0,
        "publish",
        "stats",
        "periodic fps, per-stage ms, cpu, temperature, outbox depth, uptime",
    ),
    TopicRule(
        "light",
        "light",
        True,
        1,
        "publish",
        "text: a LightState value",
        "mirror of the review light for a networked tower light or dashboard "
        "(a named mirror may use light/<name>, e.g. light/tower)",
    ),
    TopicRule(
        "request",
        "request/{command}",
        False,
        1,
        "subscribe",
        "request",
        "kiosk, POS or staff app commands: {request_id, ...}",
    ),
    TopicRule(
        "response",
        "response/{command}",
        False,
        1,
        "publish",
        "response",
        "one answer per request: {request_id, status: ok | error, data, error}",
    ),
)

RULES: dict[str, TopicRule] = {r.name: r for r in CONTRACT}

AVAILABILITY_ONLINE = "online"
AVAILABILITY_OFFLINE = "offline"
AVAILABILITY_STOPPED = "stopped"


def check_id(value: str, what: str) -> str:
    """Store and lane ids are single topic levels; wildcards would leak across lanes."""
    if not _ID.match(value or ""):
        raise ValueError(f"{what} must match [A-Za-z0-9_-]{{1,64}}, got {value!r}")
    return value


def check_path(value: str, what: str) -> str:
    if not _PATH.match(value or ""):
        raise ValueError(f"{what} must be 1-4 levels of [A-Za-z0-9_-], got {value!r}")
    return value


def check_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    if not prefix or any(c in prefix for c in "+#\0") or "//" in prefix:
        raise ValueError(f"topic prefix {prefix!r} must be non-empty levels without wildcards")
    return prefix


@dataclass(frozen=True)
class LaneTopics:
    """The topics of one lane: ``<prefix>/<store_id>/<lane_id>/…``."""

    prefix: str
    store_id: str
    lane_id: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "prefix", check_prefix(self.prefix))
        check_id(self.store_id, "store_id")
        check_id(self.lane_id, "lane_id")

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.store_id}/{self.lane_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    @property
    def light(self) -> str:
        return f"{self.base}/light"

    def status(self, component: str) -> str:
        return f"{self.base}/status/{check_path(component, 'component')}"

    def request(self, command: str) -> str:
        return f"{self.base}/request/{check_path(command, 'command')}"

    def response(self, command: str) -> str:
        return f"{self.base}/response/{check_path(command, 'command')}"

    @property
    def requests_filter(self) -> str:
        """``request/#``, not ``request/+``: commands such as transaction/start have two levels."""
        return f"{self.base}/request/#"

    def command_of(self, topic: str) -> str | None:
        """The command named by a request topic of this lane (unchecked text), else None."""
        head = f"{self.base}/request/"
        if not topic.startswith(head) or len(topic) == len(head):
            return None
        return topic[len(head) :]

    def own(self, suffix: str) -> str:
        """A topic below this lane for ``publish_raw``; refuses anything that leaves it."""
        return f"{self.base}/{check_path(suffix, 'topic suffix')}"


def fleet_filter(prefix: str = DEFAULT_PREFIX, store_id: str | None = None) -> str:
    """What HQ subscribes to: every lane, or every lane of one store."""
    store = check_id(store_id, "store_id") if store_id else "+"
    return f"{check_prefix(prefix)}/{store}/+/#"


@dataclass(frozen=True)
class ParsedTopic:
    store_id: str
    lane_id: str
    name: str  # a TopicRule name
    rest: str  # component or command ('' for single-level topics)


def parse_topic(prefix: str, topic: str) -> ParsedTopic | None:
    """Split a received topic into lane and contract row; None for foreign topics.

    >>> parse_topic("checkout/v1", "checkout/v1/s1/l2/status/scanner/a")
    ParsedTopic(store_id='s1', lane_id='l2', name='status', rest='scanner/a')
    """
    head = check_prefix(prefix) + "/"
    if not topic.startswith(head):
        return None
    parts = topic[len(head) :].split("/")
    if len(parts) < 3 or not _ID.match(parts[0]) or not _ID.match(parts[1]):
        return None
    store_id, lane_id, name, rest = parts[0], parts[1], parts[2], "/".join(parts[3:])
    rule = RULES.get(name)
    if rule is None:
        return None
    if ("{" in rule.pattern) != bool(rest) and name != "light":  # light/<name>: a named mirror
        return None
    return ParsedTopic(store_id, lane_id, name, rest)
