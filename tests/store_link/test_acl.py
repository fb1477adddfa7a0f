"""docs/store-broker in a real mosquitto: the per-lane ACLs, and the bridge to HQ."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge_app.config import MqttConfig
from edge_app.events import LaneEvent
from edge_app.store_link.client import StoreLink
from edge_app.store_link.outbox import Outbox
from tests.fixtures.broker import Mosquitto
from tests.store_link.conftest import REPO, Subscriber, wait_until

DOCS = REPO / "docs" / "store-broker"
USERS = {
    "store-042-lane-01": "pw-lane-01",
    "store-042-lane-02": "pw-lane-02",
    "kiosk-042-01": "pw-kiosk-01",
    "kiosk-042-02": "pw-kiosk-02",
    "monitor-042": "pw-monitor",
}
PREFIX = "checkout/v1/store-042"

pytestmark = pytest.mark.skipif(
    shutil.which("mosquitto_passwd") is None, reason="needs mosquitto_passwd"
)


@pytest.fixture
def store_broker(tmp_path):
    """The committed acl.conf, a password file made with ``mosquitto_passwd -b``, no anonymous access."""
    passwd = tmp_path / "passwd"
    for i, (user, password) in enumerate(USERS.items()):
        create = ["-c"] if i == 0 else []
        subprocess.run(
            ["mosquitto_passwd", *create, "-b", str(passwd), user, password],
            check=True,
            capture_output=True,
        )
    b = Mosquitto(tmp_path / "broker", extra_conf=example_conf(passwd)).start()
    yield b
    b.stop()


#: what a test broker cannot take from the example: its own port, no TLS files, no disk state
_NOT_HERE = {
    "listener",
    "cafile",
    "certfile",
    "keyfile",
    "tls_version",
    "persistence",
    "persistence_location",
    "autosave_interval",
}


def example_conf(passwd) -> str:
    """The committed mosquitto.conf (bridge aside) on the test's one loopback listener.

    The fixture's ``listener`` line comes first, so the example's per-listener
    options (the same under each of its listeners) apply to it.
    """
    text = (DOCS / "mosquitto.conf").read_text()
    lines: list[str] = []
    for line in text[: text.index("connection hq")].splitlines():
        key = line.split(" ", 1)[0]
        if not line.strip() or line.startswith("#") or key in _NOT_HERE:
            continue
        if key == "password_file":
            line = f"password_file {passwd}"
        elif key == "acl_file":
            line = f"acl_file {DOCS / 'acl.conf'}"
        if line not in lines:
            lines.append(line)
    return "\n".join(lines) + "\n"


def user_client(broker: Mosquitto, user: str, client_id: str = "") -> tuple[mqtt.Client, dict]:
    """A raw MQTT 5 client; ``acks`` maps mid -> PUBACK reason name."""
    acks: dict[int, str] = {}
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or f"raw-{user}", protocol=mqtt.MQTTv5
    )
    client.username_pw_set(user, USERS[user])
    client.on_publish = lambda c, u, mid, rc, p: acks.__setitem__(mid, rc.getName())
    connected = threading.Event()
    client.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    client.connect(broker.host, broker.port)
    client.loop_start()
    assert connected.wait(5), f"{user} could not connect"
    return client, acks


def lane_link(tmp_path, broker: Mosquitto, lane: str, **kwargs) -> StoreLink:
    user = f"store-042-{lane}"
    cfg = MqttConfig(url=broker.url, username=user, password=USERS[user])
    return StoreLink(
        cfg,
        "store-042",
        lane,
        Outbox(tmp_path / f"{lane}.db", 1000, synchronous="NORMAL"),
        f"boot-{lane}",
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        **kwargs,
    )


def test_lane_credentials_cannot_publish_into_another_lane_but_work_for_their_own(
    tmp_path, store_broker
):
    monitor = Subscriber(
        store_broker, f"{PREFIX}/#", username="monitor-042", password=USERS["monitor-042"]
    ).start()
    own = lane_link(tmp_path, store_broker, "lane-01")
    # lane-01's credentials elsewhere first: a username has one session, not two side by side
    intruder, acks = user_client(store_broker, "store-042-lane-01")
    try:
        denied = [
            intruder.publish(
                f"{PREFIX}/lane-02/{suffix}", b'{"forged": true}', qos=1, retain=retain
            ).mid
            for suffix, retain in [
                ("events", False),
                ("state", True),
                ("availability", True),
                ("status/camera", True),
                ("request/transaction/start", False),
                ("response/review/clear", False),
            ]
        ]
        barrier = intruder.publish(f"{PREFIX}/lane-01/stats", b'{"barrier": 1}', qos=1).mid
        wait_until(lambda: barrier in acks and all(m in acks for m in denied), 5, "PUBACKs")
        wait_until(
            lambda: any(b'"barrier"' in p for p in monitor.payloads("lane-01/stats")),
            5,
            "the barrier",
        )
        intruder.disconnect()
        intruder.loop_stop()

        own.start()
        wait_until(lambda: own.connected, 10, "lane-01 StoreLink connected")
        own.publish_event(LaneEvent(ts=1.0, type="transaction.started", transaction_id="t-1"))
        own.publish_raw(
            "light/tower", "review", retain=True
        )  # the mqtt_mirror light's default topic
        wait_until(
            lambda: f"{PREFIX}/lane-01/events" in [m.topic for m in monitor.snapshot()],
            10,
            "lane-01's own event",
        )

        assert {acks[m] for m in denied} == {"Not authorized"}
        topics = [m.topic for m in monitor.snapshot()]
        assert not [t for t in topics if t.startswith(f"{PREFIX}/lane-02/")], topics
        assert f"{PREFIX}/lane-01/events" in topics and f"{PREFIX}/lane-01/availability" in topics
        wait_until(
            lambda: any(m.topic == f"{PREFIX}/lane-01/light/tower" for m in monitor.snapshot()),
            5,
            "the light mirror",
        )
    finally:
        intruder.disconnect()
        intruder.loop_stop()
        own.stop(timeout_s=0.5)
        monitor.stop()


def test_a_lane_cannot_read_another_lanes_requests_and_its_kiosk_reaches_only_it(
    tmp_path, store_broker
):
    calls = []
    lane2 = lane_link(
        tmp_path, store_broker, "lane-02", on_command=lambda n, a: calls.append(n) or {"ok": 1}
    )
    snoop = Subscriber(
        store_broker,
        f"{PREFIX}/lane-02/request/#",
        username="store-042-lane-01",
        password=USERS["store-042-lane-01"],
    )
    kiosk = Subscriber(
        store_broker,
        f"{PREFIX}/lane-02/response/#",
        username="kiosk-042-02",
        password=USERS["kiosk-042-02"],
    )
    try:
        lane2.start()
        snoop.start()
        kiosk.start()
        wait_until(lambda: lane2.accepting_commands, 10, "lane-02 subscribed")
        request = json.dumps({"request_id": "k-1", "transaction_id": "T-9"}).encode()
        kiosk.client.publish(f"{PREFIX}/lane-02/request/transaction/start", request, qos=1)
        # the kiosk may not reload the lane's config (ops only): refused by the broker
        kiosk.client.publish(
            f"{PREFIX}/lane-02/request/config/reload", b'{"request_id": "k-2"}', qos=1
        )
        wait_until(lambda: len(kiosk.snapshot()) >= 1, 10, "the kiosk's response")
        kiosk.client.publish(
            f"{PREFIX}/lane-02/request/transaction/end",
            json.dumps({"request_id": "k-3", "transaction_id": "T-9"}).encode(),
            qos=1,
        )
        wait_until(lambda: len(kiosk.snapshot()) >= 2, 10, "the second response")

        assert [json.loads(p)["request_id"] for p in kiosk.payloads()] == ["k-1", "k-3"]
        assert calls == ["transaction/start", "transaction/end"]
        assert snoop.snapshot() == [], "lane-01 must not see lane-02's requests"
    finally:
        for s in (snoop, kiosk):
            s.stop()
        lane2.stop(timeout_s=0.5)


def test_a_kiosk_using_the_lanes_client_id_does_not_knock_the_lane_off(tmp_path, store_broker):
    """With client ids free for all, a kiosk's credentials took the lane's id and disconnected
    it 5 of 5 times; the example broker makes every client id its username."""
    drops: list[str] = []
    lane = lane_link(
        tmp_path,
        store_broker,
        "lane-01",
        on_connection=lambda up, why: None if up else drops.append(why),
    )
    try:
        lane.start()
        wait_until(lambda: lane.connected, 10, "lane-01 connected")
        # the ids a kiosk can guess: the lane's username and the old derived default
        for i, stolen in enumerate(["store-042-lane-01", "edge-store-042-lane-01"]):
            kiosk, _ = user_client(store_broker, "kiosk-042-01", client_id=stolen)
            try:
                # the broker ends a taken-over session before it acknowledges the new one:
                # an event acknowledged after the kiosk's CONNACK shows whether it did
                lane.publish_event(LaneEvent(ts=float(i), type="transaction.started"))
                wait_until(lambda: lane.outbox_depth() == 0, 10, "the lane's event acknowledged")
            finally:
                kiosk.disconnect()
                kiosk.loop_stop()
        assert drops == [], f"the kiosk disconnected the lane: {drops}"
    finally:
        lane.stop(timeout_s=0.5)


def bridge_block(hq: Mosquitto) -> str:
    """The committed bridge section, pointed at a local HQ broker without TLS or credentials."""
    text = (DOCS / "mosquitto.conf").read_text()
    lines = text[text.index("connection hq") :].splitlines()
    out = []
    for line in lines:
        key = line.split(" ", 1)[0]
        if key in (
            "remote_username",
            "remote_password",
            "bridge_cafile",
            "bridge_certfile",
            "bridge_keyfile",
        ):
            continue
        out.append(f"address {hq.host}:{hq.port}" if key == "address" else line)
    return "\n".join(out) + "\n"


def test_the_example_bridge_forwards_a_lanes_events_and_retained_availability_to_hq(tmp_path):
    hq = Mosquitto(tmp_path / "hq").start()
    store = Mosquitto(tmp_path / "store", extra_conf="allow_anonymous true\n" + bridge_block(hq))
    hq_view = Subscriber(hq, "checkout/#").start()
    link = None
    try:
        store.start()
        wait_until(
            lambda: any(
                m.topic.endswith("_bridge/hq") and m.payload == b"1" for m in hq_view.snapshot()
            ),
            15,
            "the bridge to connect",
        )
        link = StoreLink(
            MqttConfig(url=store.url),
            "store-042",
            "lane-07",
            Outbox(tmp_path / "o.db", 100, synchronous="NORMAL"),
            "boot",
        )
        link.start()
        env = link.publish_event(
            LaneEvent(ts=3.0, type="transaction.started", transaction_id="t-7")
        )
        wait_until(
            lambda: any(b"t-7" in p for p in hq_view.payloads("lane-07/events")),
            15,
            "the event at HQ",
        )
        assert json.loads(hq_view.payloads("lane-07/events")[0])["event_id"] == env.event_id
        assert b"online" in hq_view.payloads("lane-07/availability")
    finally:
        if link:
            link.stop(timeout_s=0.5)
        hq_view.stop()
        store.stop()
        hq.stop()
