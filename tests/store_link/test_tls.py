"""mqtts:// with a store CA and a lane client certificate, against mosquitto with TLS."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest

from edge_app.config import MqttConfig
from edge_app.events import LaneEvent
from edge_app.store_link.client import StoreLink
from edge_app.store_link.outbox import Outbox
from tests.fixtures.broker import Mosquitto
from tests.store_link.conftest import wait_until

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args: str, cwd) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(d):
    """A store CA, a broker certificate for 127.0.0.1 and a lane client certificate."""
    d.mkdir()
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test store CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        cwd=d,
    )
    for name, ext in [
        ("broker", "subjectAltName=IP:127.0.0.1"),
        ("lane", "extendedKeyUsage=clientAuth"),
    ]:
        openssl(
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            f"/CN={name}",
            "-keyout",
            f"{name}.key",
            "-out",
            f"{name}.csr",
            cwd=d,
        )
        (d / f"{name}.ext").write_text(ext + "\n")
        openssl(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            f"{name}.ext",
            "-out",
            f"{name}.crt",
            cwd=d,
        )
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=some other CA",
        "-keyout",
        "other.key",
        "-out",
        "other.crt",
        cwd=d,
    )
    return d


@pytest.fixture
def tls_broker(tmp_path):
    pki = make_pki(tmp_path / "pki")
    b = Mosquitto(
        tmp_path / "broker",
        extra_conf=(
            "allow_anonymous true\n"
            f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'broker.crt'}\nkeyfile {pki / 'broker.key'}\n"
            "require_certificate true\ntls_version tlsv1.2\n"
        ),
    ).start()
    yield b, pki
    b.stop()


def link_for(tmp_path, broker, tls: dict) -> StoreLink:
    cfg = MqttConfig(url=f"mqtts://127.0.0.1:{broker.port}", tls=tls)
    return StoreLink(
        cfg,
        "s1",
        "l1",
        Outbox(tmp_path / f"o-{len(tls)}.db", 10, synchronous="NORMAL"),
        "b",
        reconnect_min_s=0.2,
        reconnect_max_s=0.5,
    )


def test_lane_connects_with_ca_and_client_certificate_and_delivers(tmp_path, tls_broker):
    broker, pki = tls_broker
    link = link_for(
        tmp_path,
        broker,
        {
            "ca_file": str(pki / "ca.crt"),
            "cert_file": str(pki / "lane.crt"),
            "key_file": str(pki / "lane.key"),
        },
    )
    link.start()
    try:
        wait_until(lambda: link.connected, 10, "TLS connection")
        link.publish_event(LaneEvent(ts=1.0, type="transaction.started"))
        wait_until(lambda: link.outbox_depth() == 0, 10, "PUBACK over TLS")
    finally:
        link.stop(timeout_s=0.5)


def test_a_broker_signed_by_another_ca_is_refused_and_events_stay_queued(tmp_path, tls_broker):
    broker, pki = tls_broker
    link = link_for(
        tmp_path,
        broker,
        {
            "ca_file": str(pki / "other.crt"),
            "cert_file": str(pki / "lane.crt"),
            "key_file": str(pki / "lane.key"),
        },
    )
    link.start()
    try:
        link.publish_event(LaneEvent(ts=1.0, type="transaction.started"))
        time.sleep(1.0)
        assert not link.connected and link.outbox_depth() == 1
    finally:
        link.stop(timeout_s=0.2)
