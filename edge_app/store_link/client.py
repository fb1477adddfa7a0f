"""StoreLink: the lane's only MQTT client (paho-mqtt 2.x), with the outbox behind it.

Imperative shell around the pure ``topics``, ``envelope`` and ``commands``:

* ``publish_event`` writes the envelope to the SQLite outbox *first*, then
  the pump sends outbox rows in row order, at most ``max_inflight`` awaiting
  PUBACK; a row is deleted only on its PUBACK. After every (re)connect the
  pump restarts from the oldest row, so a broker outage, a dropped socket or
  a kill -9 loses nothing and reorders nothing (duplicates are possible:
  consumers dedupe on ``event_id``).
* ``availability`` is ``offline`` by Last Will, ``online`` after every
  connect, ``stopped`` after ``stop()``; the last ``state``, every
  ``status/<component>`` and retained raw topics are republished after
  every connect, so a broker that lost its retained store heals.
* ``request/#`` is validated by ``commands.dispatch`` and answered on
  ``response/<command>``.
* A disk that refuses the outbox (full, read-only) loses nothing: the outbox
  keeps the envelope in memory and the pump sends it all the same, in id
  order. ``maintain()`` (the lane's periodic work) and every PUBACK retry the
  disk; ``on_outbox_status`` hears the broker and the disk side combined, for
  ``status/outbox``.

Threads: paho calls ``on_publish`` while holding its own message lock, and
``publish()`` takes that same lock. A callback that *waited* for our lock
could therefore deadlock against an app thread that holds our lock inside
``publish()``. So paho callbacks never wait: they queue what happened in
``_net`` and process it only if our lock is free; whoever holds the lock
processes the queue before letting go (``_settle``). Because our lock is held
across ``publish()`` and recording the mid, a PUBACK that arrives before the
mid is recorded (paho's README warning) simply waits in the queue.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge_app.config import MqttConfig
from edge_app.events import (
    ComponentState,
    ComponentStatusPayload,
    Envelope,
    LaneEvent,
    LaneStatePayload,
)
from edge_app.store_link import commands
from edge_app.store_link.envelope import EnvelopeFactory, iso_utc, state_json, status_json, to_json
from edge_app.store_link.outbox import Outbox, OutboxHealth
from edge_app.store_link.topics import (
    AVAILABILITY_OFFLINE,
    AVAILABILITY_ONLINE,
    AVAILABILITY_STOPPED,
    DEFAULT_PREFIX,
    RULES,
    LaneTopics,
    check_path,
)

log = logging.getLogger(__name__)

STATUS_VALUES = ("ok", "degraded", "down")
#: seconds between refreshes of a degraded outbox's detail (its waiting count)
OUTBOX_DETAIL_REFRESH_S = 5.0


def outbox_status(
    disk: OutboxHealth, broker: tuple[bool, str] | None
) -> tuple[ComponentState, str]:
    """``status/outbox`` from the disk side and the broker side (None: no broker yet).

    The outbox keeps every event while the broker is away, and keeps them in
    memory while the disk refuses: degraded either way, never down (a down
    component turns the lane's light to fault).

    >>> outbox_status(OutboxHealth("ok"), (True, "connected"))
    ('ok', 'broker connected')
    >>> full = OutboxHealth("degraded", "disk full", "disk full: o.db (2 waiting)")
    >>> outbox_status(full, (False, "gone"))
    ('degraded', 'disk full: o.db (2 waiting); broker gone')
    """
    parts = [] if disk.status == "ok" else [disk.detail]
    if broker is not None:
        parts.append(f"broker {broker[1]}")
    degraded = disk.status != "ok" or (broker is not None and not broker[0])
    return ("degraded" if degraded else "ok"), "; ".join(parts)


def parse_mqtt_url(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """``mqtt[s]://[user:pass@]host[:port]`` -> (host, port, tls, user, password).

    >>> parse_mqtt_url("mqtts://lane%2D3:s3cr%40t@broker.store:8884")
    ('broker.store', 8884, True, 'lane-3', 's3cr@t')
    >>> parse_mqtt_url("mqtt://10.0.0.5")
    ('10.0.0.5', 1883, False, None, None)
    """
    parts = urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise ValueError("expected mqtt:// or mqtts://")
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("expected mqtt[s]://[user:pass@]host[:port]")
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return parts.hostname, port, tls, user, password


class StoreLink:
    """One lane's connection to the store broker; every method is safe from any thread."""

    def __init__(
        self,
        cfg: MqttConfig | None,
        store_id: str,
        lane_id: str,
        outbox: Outbox,
        boot_id: str,
        *,
        wall_clock: Callable[[], float] = time.time,
        on_command: commands.CommandHandler | None = None,
        on_connection: Callable[[bool, str], None] | None = None,
        on_outbox_status: Callable[[ComponentState, str], None] | None = None,
        max_inflight: int = 100,
        reconnect_min_s: float = 1.0,
        reconnect_max_s: float = 30.0,
    ):
        self.cfg = cfg
        self.topics = LaneTopics(cfg.topic_prefix if cfg else DEFAULT_PREFIX, store_id, lane_id)
        self.boot_id = boot_id
        self._outbox = outbox
        self._wall_clock = wall_clock
        self._on_command = on_command
        self._on_connection = on_connection
        self._on_outbox_status = on_outbox_status
        self._max_inflight = max(1, max_inflight)
        self._reconnect = (reconnect_min_s, max(reconnect_min_s, reconnect_max_s))
        self._envelopes = EnvelopeFactory(store_id, lane_id, boot_id, wall_clock=wall_clock)

        self._put_lock = threading.Lock()  # seq order == outbox order
        self._lock = threading.Lock()  # everything below
        self._net: collections.deque = collections.deque()  # what paho told us, not yet processed
        self._client: mqtt.Client | None = None
        self._connected = False
        self._inflight: dict[int, int] = {}  # mid -> outbox row id
        self._sent_upto = 0  # highest row id sent on this connection
        self._epoch = outbox.epoch  # the outbox renumbered or found older rows: start over
        self._report_lock = threading.Lock()
        self._broker: tuple[bool, str] | None = None  # (connected, reason) once known
        self._reported: tuple[tuple, str, float] = (("ok", None, None), "", 0.0)
        self._state: bytes | None = None
        self._statuses: dict[str, ComponentStatusPayload] = {}
        self._retained_raw: dict[str, bytes] = {}
        self._started = False
        self._stopped = False
        self._accepting_commands = False
        #: PUBACKs with a failure reason (e.g. not authorised); the row is retried after reconnect
        self.rejected_total = 0
        self.commands_total = 0
        self.commands_rejected_total = 0

    # -- lifecycle -----------------------------------------------------------

    def start(self) -> None:
        """Connect in the background; never blocks on a dead broker and never raises."""
        if self._started:
            return
        self._started = True
        self._report_outbox()  # a full or read-only disk at start is said at once
        if self.cfg is None:
            log.info("no mqtt configured: events stay in the outbox")
            return
        try:
            self._client = self._make_client(self.cfg)
            host, port = self._endpoint
            self._client.loop_start()
            log.info("store link: connecting to %s:%d as %s", host, port, self.topics.base)
        except Exception as exc:  # bad TLS files, bad url: the lane runs on, the outbox fills
            log.error("store link cannot start: %s", exc)
            self._client = None
            self._notify(False, f"cannot start: {exc}")

    def _make_client(self, cfg: MqttConfig) -> mqtt.Client:
        host, port, tls, url_user, url_password = parse_mqtt_url(cfg.url)
        self._endpoint = (host, port)
        v5 = cfg.protocol == "5"
        client_id = (  # a broker with use_username_as_clientid (docs/store-broker) uses the username
            cfg.client_id
            or cfg.username
            or url_user
            or f"edge-{self.topics.store_id}-{self.topics.lane_id}"
        )
        if v5:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5
            )
        else:
            client = mqtt.Client(
                CallbackAPIVersion.VERSION2,
                client_id=client_id,
                protocol=mqtt.MQTTv311,
                clean_session=True,
            )
        user = cfg.username or url_user
        password = cfg.password if cfg.password is not None else url_password
        if user:
            client.username_pw_set(user, password)
        if tls or cfg.tls is not None:
            t = cfg.tls
            client.tls_set(
                ca_certs=t.ca_file if t else None,
                certfile=t.cert_file if t else None,
                keyfile=t.key_file if t else None,
            )
            if t and t.insecure:
                client.tls_insecure_set(True)
        client.will_set(self.topics.availability, AVAILABILITY_OFFLINE, qos=1, retain=True)
        # paho's own window is wider than ours: after a reconnect it also resends
        # its stale in-flight copies (harmless duplicates), ours must not queue.
        client.max_inflight_messages_set(2 * self._max_inflight + 20)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(*self._reconnect)  # type: ignore[arg-type]  # paho takes seconds as floats
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_stray_message
        client.message_callback_add(self.topics.requests_filter, self._on_request)
        if v5:
            client.connect_async(host, port, keepalive=cfg.keepalive_s, clean_start=True)
        else:
            client.connect_async(host, port, keepalive=cfg.keepalive_s)
        return client

    def stop(self, timeout_s: float = 2.0) -> None:
        """Flush what the broker takes within ``timeout_s``, say ``stopped``, disconnect."""
        if self._stopped:
            return
        self._stopped = True
        client = self._client
        if client is None:
            return
        deadline = time.monotonic() + timeout_s
        while self._connected and self._outbox.depth() > 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        if self._connected:
            try:
                info = client.publish(
                    self.topics.availability, AVAILABILITY_STOPPED, qos=1, retain=True
                )
                info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as exc:
                log.warning("could not publish 'stopped': %s", exc)
        try:
            client.disconnect()
        finally:
            client.loop_stop()
        with self._lock:
            self._connected = False
            self._inflight.clear()
        log.info("store link stopped; %d event(s) left in the outbox", self._outbox.depth())

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def accepting_commands(self) -> bool:
        """Connected and the broker granted the ``request/#`` subscription."""
        return self._connected and self._accepting_commands

    def outbox_depth(self) -> int:
        return self._outbox.depth()

    @property
    def last_seq(self) -> int:
        """The ``seq`` of the newest event envelope of this boot (0: none yet)."""
        return self._envelopes.seq

    @property
    def outbox_counters(self) -> dict[str, int]:
        """The outbox's counts as ``stats`` carries them (drops, memory queue, salvage)."""
        return self._outbox.counters()

    # -- publishing ----------------------------------------------------------

    def publish_event(self, event: LaneEvent) -> Envelope:
        """Envelope the event, store it in the outbox, send it (QoS 1) when the window allows.

        Raises ``envelope.InvalidPayload`` for an event that breaks the schema
        (a bug upstream); nothing is stored or sent then.
        """
        with self._put_lock:
            envelope = self._envelopes.build(event)
            self._outbox.put(envelope)  # on disk, or in memory while the disk refuses
        with self._lock:
            self._pump()
        self._settle()
        self._report_outbox()
        return envelope

    def maintain(self) -> None:
        """Periodic work: retry the disk (re-open, write what waits in memory), report it."""
        with self._lock:
            if self._flush_outbox(force=False):
                self._pump()
        self._settle()
        self._report_outbox(refresh=True)

    def publish_state(self, state: LaneStatePayload) -> None:
        """Retained lane state; kept and republished after every reconnect."""
        payload = state_json(state)
        with self._lock:
            self._state = payload
            self._send(self.topics.state, payload, retain=True)
        self._settle()

    def publish_status(self, component: str, status: str, detail: str = "") -> None:
        """Retained ``status/<component>``; ``since`` changes only when ``status`` does."""
        check_path(component, "component")
        if status not in STATUS_VALUES:
            raise ValueError(f"status must be one of {STATUS_VALUES}, got {status!r}")
        with self._lock:
            previous = self._statuses.get(component)
            since = (
                previous.since
                if previous and previous.status == status
                else iso_utc(self._wall_clock())
            )
            payload = ComponentStatusPayload(
                component=component, status=status, detail=detail[:500], since=since
            )
            body = status_json(payload)
            self._statuses[component] = payload
            self._send(self.topics.status(component), body, retain=True)
        self._settle()

    def publish_stats(self, stats: dict) -> bool:
        """QoS 0, never queued (stale stats are worthless); adds the outbox counters."""
        body = to_json({**stats, **self._outbox.counters(), "ts": iso_utc(self._wall_clock())})
        with self._lock:
            if not (self._connected and self._client is not None):
                return False
            self._client.publish(self.topics.stats, body, qos=0)
        self._settle()
        return True

    def publish_raw(self, topic_suffix: str, payload: str | bytes, retain: bool = False) -> None:
        """A lane topic outside the event contract (the MQTT light mirror: ``light``)."""
        first = topic_suffix.split("/", 1)[0]
        if first in RULES and first != "light":
            raise ValueError(f"{topic_suffix!r} belongs to the contract; use its publish_* method")
        topic = self.topics.own(topic_suffix)
        body = payload.encode() if isinstance(payload, str) else bytes(payload)
        with self._lock:
            if retain:
                self._retained_raw[topic] = body
            self._send(topic, body, retain=retain)
        self._settle()

    # -- internals (call with self._lock held) ---------------------------------

    def _send(self, topic: str, body: bytes, retain: bool) -> None:
        """Send a non-event message if connected; retained ones go again on reconnect."""
        if self._connected and self._client is not None:
            self._client.publish(topic, body, qos=1, retain=retain)

    def _flush_outbox(self, force: bool) -> bool:
        """Let the outbox retry its disk; True if it renumbered or found older rows (start over)."""
        try:
            self._outbox.flush_pending(force=force)
        except Exception:
            log.exception("outbox flush failed")
        if self._outbox.epoch == self._epoch:
            return False
        self._epoch = self._outbox.epoch
        self._inflight.clear()  # late PUBACKs are ignored: those rows go again
        self._sent_upto = 0
        return True

    def _pump(self) -> None:
        """Send outbox rows after ``_sent_upto`` until the in-flight window is full."""
        client = self._client
        if not self._connected or client is None:
            return
        room = self._max_inflight - len(self._inflight)
        if room <= 0:
            return
        for row in self._outbox.pending(room, after_id=self._sent_upto):
            info = client.publish(self.topics.events, row.payload, qos=1)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                # The socket just went; a disconnect notice follows and the next
                # connect restarts from the oldest row.
                return
            self._inflight[info.mid] = row.row_id
            self._sent_upto = row.row_id

    def _on_connected(self) -> None:
        self._connected = True
        self._inflight.clear()
        self._sent_upto = 0
        client = self._client
        assert client is not None
        client.publish(self.topics.availability, AVAILABILITY_ONLINE, qos=1, retain=True)
        if self._state is not None:
            client.publish(self.topics.state, self._state, qos=1, retain=True)
        for component, status in self._statuses.items():
            client.publish(self.topics.status(component), status_json(status), qos=1, retain=True)
        for topic, body in self._retained_raw.items():
            client.publish(topic, body, qos=1, retain=True)

    def _process_net(self) -> None:
        acked: list[int] = []
        while True:
            try:
                kind, arg = self._net.popleft()
            except IndexError:
                break
            if kind == "puback":
                mid, reason = arg
                row_id = self._inflight.pop(mid, None)
                if row_id is None:
                    continue  # state/status/response, or a stale copy from before a reconnect
                if reason is not None and reason.is_failure:
                    self.rejected_total += 1
                    if self.rejected_total in (1, 10, 100) or self.rejected_total % 1000 == 0:
                        log.warning(
                            "broker refused an event (%s), %d so far; kept for retry",
                            reason,
                            self.rejected_total,
                        )
                    continue
                acked.append(row_id)
            elif kind == "connected":
                if acked:
                    self._outbox.ack_many(acked)
                    acked = []
                self._on_connected()
            elif kind == "disconnected":
                self._connected = False
                self._inflight.clear()
                self._sent_upto = 0
        if acked:
            self._outbox.ack_many(acked)
            self._flush_outbox(force=False)  # space the acks freed takes what waits in memory
        self._pump()

    def _settle(self) -> None:
        """Process paho's notices if nobody else holds the lock (see module doc)."""
        while self._net:
            if not self._lock.acquire(blocking=False):
                return  # the holder calls _settle after releasing
            try:
                self._process_net()
            except Exception:
                log.exception("store link bookkeeping failed")
            finally:
                self._lock.release()

    def _notify(self, connected: bool, reason: str) -> None:
        self._broker = (connected, reason)
        if self._on_connection is not None:
            try:
                self._on_connection(connected, reason)
            except Exception:
                log.exception("on_connection callback failed")
        self._report_outbox()

    def _report_outbox(self, refresh: bool = False) -> None:
        """Tell ``on_outbox_status`` when the outbox's status or cause changes.

        A changing count of waiting events only refreshes the detail every
        ``OUTBOX_DETAIL_REFRESH_S`` (from ``maintain``), not on every event.
        """
        if self._on_outbox_status is None:
            return
        with self._report_lock:
            disk = self._outbox.health()
            broker = self._broker
            status, detail = outbox_status(disk, broker)
            key = (status, disk.cause, broker[0] if broker else None)
            last_key, last_detail, last_at = self._reported
            now = time.monotonic()
            stale = refresh and detail != last_detail and now - last_at >= OUTBOX_DETAIL_REFRESH_S
            if key == last_key and not stale:
                return
            self._reported = (key, detail, now)
            try:
                self._on_outbox_status(status, detail)
            except Exception:
                log.exception("on_outbox_status callback failed")

    # -- paho callbacks (network thread; must never raise, never wait on our lock) --

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        try:
            if reason_code.is_failure:
                log.warning("broker refused the connection: %s", reason_code)
                self._notify(False, f"refused: {reason_code}")
                return
            client.subscribe(self.topics.requests_filter, qos=1)
            self._net.append(("connected", None))
            self._settle()
            self._notify(True, "connected")
        except Exception:
            log.exception("on_connect failed")

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        granted = bool(reason_codes) and not any(rc.is_failure for rc in reason_codes)
        if not granted:
            log.warning("broker refused the request subscription: %s", reason_codes)
        self._accepting_commands = granted

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._accepting_commands = False
        try:
            self._net.append(("disconnected", None))
            self._settle()
            if not self._stopped:
                log.warning("store link disconnected: %s", reason_code)
            self._notify(False, str(reason_code))
        except Exception:
            log.exception("on_disconnect failed")

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        try:
            self._net.append(("puback", (mid, reason_code)))
            self._settle()
        except Exception:
            log.exception("on_publish failed")

    def _on_stray_message(self, client, userdata, message) -> None:
        log.debug("ignored message on %r", getattr(message, "_topic", b""))

    def _on_request(self, client, userdata, message) -> None:
        try:
            command = self.topics.command_of(message.topic) or ""
            reply = commands.dispatch(
                command, bytes(message.payload), self._on_command, retained=bool(message.retain)
            )
            self.commands_total += 1
            if not reply.ok:
                self.commands_rejected_total += 1
            props = None
            correlation = getattr(getattr(message, "properties", None), "CorrelationData", None)
            if correlation is not None:
                props = Properties(PacketTypes.PUBLISH)
                props.CorrelationData = correlation
            client.publish(self.topics.response(reply.command), reply.body, qos=1, properties=props)
        except Exception:
            log.exception("request on %r could not be answered", getattr(message, "_topic", b""))
