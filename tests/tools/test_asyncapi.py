"""docs/asyncapi.yaml is generated from the code and must not drift from it."""

from __future__ import annotations

import yaml

from edge_app.events import EVENT_DATA, payload_schemas
from edge_app.store_link.commands import COMMANDS
from edge_app.store_link.topics import CONTRACT
from edge_app.tools.asyncapi import REGENERATE, build_document, render
from tests.store_link.conftest import REPO

COMMITTED = REPO / "docs" / "asyncapi.yaml"


def test_committed_document_matches_the_code():
    assert COMMITTED.exists(), f"docs/asyncapi.yaml is missing; run: {REGENERATE}"
    assert COMMITTED.read_text() == render(), f"docs/asyncapi.yaml is stale; run: {REGENERATE}"


def _refs(node, out):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                out.append(v)
            else:
                _refs(v, out)
    elif isinstance(node, list):
        for v in node:
            _refs(v, out)
    return out


def _resolve(doc, ref):
    assert ref.startswith("#/"), ref
    node = doc
    for part in ref[2:].split("/"):
        assert part in node, f"dangling $ref {ref}"
        node = node[part]
    return node


def test_every_topic_command_and_payload_is_documented_and_every_ref_resolves():
    doc = yaml.safe_load(render())
    assert doc["asyncapi"] == "3.0.0"
    addresses = {c["address"] for c in doc["channels"].values()}
    for rule in CONTRACT:
        if rule.name not in ("request", "response"):
            assert f"checkout/v1/{{storeId}}/{{laneId}}/{rule.pattern}" in addresses
    for command in COMMANDS:
        assert f"checkout/v1/{{storeId}}/{{laneId}}/request/{command}" in addresses
        assert f"checkout/v1/{{storeId}}/{{laneId}}/response/{command}" in addresses
    schemas = doc["components"]["schemas"]
    for event_type in EVENT_DATA:
        assert schemas[f"data_{event_type}"] == payload_schemas()[f"data/{event_type}"]
    for ref in _refs(doc, []):
        _resolve(doc, ref)
    qos = {
        op["channel"]["$ref"].split("/")[-1]: op["bindings"]["mqtt"]
        for op in doc["operations"].values()
    }
    assert qos["events"] == {"qos": 1, "retain": False, "bindingVersion": "0.2.0"}
    assert qos["stats"]["qos"] == 0 and qos["availability"]["retain"] is True


def test_generation_is_deterministic():
    assert build_document() == build_document()
