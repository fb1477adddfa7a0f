"""Credentials are redacted wherever the lane prints or publishes text."""

from __future__ import annotations

import io
import logging
import subprocess
import sys

from edge_app.redact import RedactingFilter, redact


def test_passwords_in_urls_are_starred_and_the_rest_kept():
    assert redact("rtsp://admin:p@ss@cam:554/s1 failed") == "rtsp://admin:***@cam:554/s1 failed"
    assert redact("mqtt://broker.store:1883") == "mqtt://broker.store:1883"
    assert redact("lane-3@store: ok") == "lane-3@store: ok"


def test_log_records_are_redacted_arguments_and_tracebacks_included():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("test-redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning("cannot open %s", "rtsp://admin:hunter2@cam/stream")
        try:
            raise ConnectionError("mqtts://lane:hunter2@broker:8883 refused")
        except ConnectionError:
            log.exception("store link")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "hunter2" not in text
    assert "rtsp://admin:***@cam/stream" in text and "mqtts://lane:***@broker:8883" in text


def test_the_demo_never_prints_a_broker_password(shared_broker):
    """`edge-app demo --mqtt-url mqtt://user:pass@…` shows where events go, not the password."""
    url = f"mqtt://lane:hunter2@{shared_broker.host}:{shared_broker.port}"
    out = subprocess.run(
        [sys.executable, "-m", "edge_app", "demo", "--mqtt-url", url],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"mqtt://lane:***@{shared_broker.host}:{shared_broker.port}" in out.stdout
    assert "hunter2" not in out.stdout + out.stderr
