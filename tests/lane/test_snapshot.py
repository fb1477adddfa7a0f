"""``request/snapshot`` does what docs/asyncapi.yaml says, on a real broker: it keeps a clip."""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np
import paho.mqtt.client as mqtt
import pytest
import yaml
from jsonschema import Draft202012Validator

from edge_app.config import EvidenceConfig, MqttConfig, load_config
from edge_app.devices.lights.none import NoLight, NoLightConfig
from edge_app.lane.app import Lane
from edge_app.lane.camera import Frame
from edge_app.store_link.commands import dispatch

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "calibration" / "demo" / "lane.yaml"
PREFIX = "checkout/v1/demo-store/lane-01/"


def documented(schema: str) -> Draft202012Validator:
    """A validator for a schema of the committed docs/asyncapi.yaml, its $refs resolved there."""
    doc = yaml.safe_load((REPO / "docs" / "asyncapi.yaml").read_text())
    root = {"$ref": f"#/components/schemas/{schema}", "components": doc["components"]}
    return Draft202012Validator(root)


class Clock:
    t = 0.0

    def __call__(self) -> float:
        return self.t


def make_lane(tmp_path, clock, **update):
    cfg = load_config(DEMO).model_copy(
        update={
            "state_dir": str(tmp_path / "state"),
            "scanners": [],
            "evidence": EvidenceConfig(pre_s=0.5, post_s=0.5, fps=10),
            **update,
        }
    )
    return Lane(cfg, clock=clock, light=NoLight(NoLightConfig()), use_watchdog=False)


def feed(lane, clock, frames, start):
    rng = np.random.default_rng(start)
    for i in range(start, start + frames):
        clock.t = round(i * 0.1, 3)
        lane.process_frame(Frame(rng.integers(0, 255, (240, 320, 3), np.uint8), clock.t, i))
        lane.drain()


def test_snapshot_keeps_an_evidence_clip_and_answers_in_the_documented_schema(tmp_path, broker):
    clock = Clock()
    lane = make_lane(tmp_path, clock, mqtt=MqttConfig(url=broker.url))
    got: list[dict] = []
    staff = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="staff-app")
    staff.on_message = lambda c, u, m: got.append(json.loads(m.payload))
    staff.connect(broker.host, broker.port)
    staff.subscribe(PREFIX + "response/snapshot", qos=1)
    staff.loop_start()
    try:
        lane.start(camera=False)
        wait(lambda: lane.link.accepting_commands, "the lane's subscriptions")
        feed(lane, clock, 10, 0)  # a second of frames in the evidence ring
        for rid in ("s-1", "s-2"):  # the second, while the first records, joins it
            body = {"request_id": rid, "reason": "staff check"}
            staff.publish(PREFIX + "request/snapshot", json.dumps(body), qos=1)
            wait(lambda n=len(got): len(got) > n, "the response")
        feed(lane, clock, 10, 10)  # past post_s: the clip is complete
    finally:
        staff.loop_stop()
        staff.disconnect()
        lane.stop()  # waits for the clip writer
    validator = documented("response_snapshot")
    for reply in got:
        assert not list(validator.iter_errors(reply)), list(validator.iter_errors(reply))
    first, second = (r["data"] for r in got)
    assert [r["status"] for r in got] == ["ok", "ok"]
    assert first["clip"].startswith("snapshot-") and first["clip"].endswith(".avi")
    assert second["clip"] == first["clip"] and second["joined"] and not first["joined"]
    assert first["reason"] == "staff check" and first["ready_in_s"] == 0.5
    assert first["frames"] == 10 and first["statuses"]["model"] == "ok"
    folder = lane.cfg.state_path(lane.cfg.evidence.dir)
    clip = cv2.VideoCapture(str(folder / first["clip"]))
    assert clip.isOpened() and 8 <= clip.get(cv2.CAP_PROP_FRAME_COUNT) <= 12  # pre + post at 10/s
    assert (folder / first["thumbnail"]).stat().st_size > 0
    # what the lane answered before: the view without a clip, which the document refuses
    old = {**got[0], "data": {k: first[k] for k in ("mode", "transaction_id", "frames")}}
    assert list(validator.iter_errors(old))


def test_snapshot_without_evidence_is_an_error_not_a_promise(tmp_path):
    clock = Clock()
    lane = make_lane(tmp_path, clock, evidence=EvidenceConfig(enabled=False))
    try:
        reply = json.loads(
            dispatch("snapshot", b'{"request_id": "s-1"}', lane.on_command, retained=False).body
        )
    finally:
        lane.stop()
    assert not list(documented("response_snapshot").iter_errors(reply))
    assert reply["status"] == "error" and "evidence.enabled is false" in reply["error"]
    assert lane.inbox.empty()


def wait(cond, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} in {timeout} s")
        time.sleep(0.02)
