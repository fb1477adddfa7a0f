"""Generate the AsyncAPI 3.0 document of the store link from the code.

Channels come from ``topics.CONTRACT``, payloads from ``events.payload_schemas()``
and the command models, so the document cannot describe a topic or a field
the lane does not have. ``docs/asyncapi.yaml`` is this output, committed;
a test fails when they drift. Regenerate with::

    python -m edge_app.tools.asyncapi > docs/asyncapi.yaml
"""

from __future__ import annotations

import copy
import re
import sys
from typing import Any

import yaml

from edge_app.events import EVENT_DATA, SCHEMA_VERSION, LightState, payload_schemas
from edge_app.store_link.commands import COMMANDS, request_schemas, response_schema
from edge_app.store_link.gate import DEFAULT_LIMITS
from edge_app.store_link.topics import (
    AVAILABILITY_OFFLINE,
    AVAILABILITY_ONLINE,
    AVAILABILITY_STOPPED,
    CONTRACT,
    DEFAULT_PREFIX,
)

REGENERATE = "python -m edge_app.tools.asyncapi > docs/asyncapi.yaml"

_TEXT_PAYLOADS = {
    "availability": {
        "type": "string",
        "enum": [AVAILABILITY_ONLINE, AVAILABILITY_OFFLINE, AVAILABILITY_STOPPED],
    },
    "light": {"type": "string", "enum": [s.value for s in LightState]},
}

_STATS = {
    "title": "Stats",
    "type": "object",
    "description": "Free-form gauges from the health module; the store link always adds the outbox fields.",
    "properties": {
        "fps": {"type": "number"},
        "outbox_depth": {
            "type": "integer",
            "description": "events waiting for a PUBACK, on disk and in memory",
        },
        "outbox_dropped_total": {
            "type": "integer",
            "description": "events dropped, ever: the outbox bound and the memory queue's",
        },
        "outbox_memory_queued": {
            "type": "integer",
            "description": "events waiting in memory because the disk refused them (full, read-only)",
        },
        "outbox_memory_dropped_total": {
            "type": "integer",
            "description": "events dropped from the full memory queue since start",
        },
        "outbox_persisted_late_total": {
            "type": "integer",
            "description": "events written to disk after waiting in memory, since start",
        },
        "outbox_salvaged_total": {
            "type": "integer",
            "description": "events copied out of a corrupt outbox file at start",
        },
        "ts": {"type": "string", "description": "ISO-8601 UTC wall clock"},
        "cpu_percent": {
            "type": ["number", "null"],
            "description": "the whole box since the last stats; null where /proc/stat is hidden",
        },
        "lane_cpu_percent": {
            "type": ["number", "null"],
            "description": "this lane process, as a share of all cores",
        },
        "temperature_c": {"type": ["number", "null"]},
        "rss_mb": {"type": ["number", "null"]},
        "evidence": {
            "type": ["object", "null"],
            "description": "clips written, failed (full disk), deleted (quota), expired (days)",
            "properties": {
                k: {"type": "integer"}
                for k in ("clips_written", "clips_failed", "clips_deleted", "clips_expired")
            },
        },
        "requests": {
            "type": "object",
            "description": "request/<command> counts since the lane started",
            "properties": {
                "total": {"type": "integer", "description": "requests answered"},
                "refused_total": {
                    "type": "integer",
                    "description": "answered with an error: invalid, retained, over the rate, failed",
                },
                "executed_total": {"type": "integer", "description": "requests that ran"},
                "duplicates_total": {
                    "type": "integer",
                    "description": "repeats of a request_id answered again without running",
                },
                "rate_limited_total": {"type": "integer"},
                "rate_limited": {
                    "type": "object",
                    "description": "refused over the command's rate, per command",
                    "additionalProperties": {"type": "integer"},
                },
            },
            "required": [
                "total",
                "refused_total",
                "executed_total",
                "duplicates_total",
                "rate_limited_total",
                "rate_limited",
            ],
            "additionalProperties": False,
        },
    },
    "required": [
        "outbox_depth",
        "outbox_dropped_total",
        "outbox_memory_queued",
        "outbox_memory_dropped_total",
        "outbox_persisted_late_total",
        "outbox_salvaged_total",
        "ts",
    ],
    "additionalProperties": True,
}


def _key(name: str) -> str:
    """Component keys must match ^[a-zA-Z0-9.\\-_]+$ in AsyncAPI."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _hoist(schema: dict, schemas: dict) -> dict:
    """Move pydantic ``$defs`` into components.schemas and point ``$ref`` there."""
    schema = copy.deepcopy(schema)
    for name, sub in schema.pop("$defs", {}).items():
        schemas[_key(name)] = _hoist(sub, schemas)

    def fix(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (
                    v.replace("#/$defs/", "#/components/schemas/")
                    if k == "$ref" and isinstance(v, str)
                    else fix(v)
                )
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [fix(v) for v in node]
        return node

    return fix(schema)


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _typed_response(command: str, data_schema: str) -> dict:
    """The response of a command whose ``data`` has a schema of its own (when ok)."""
    schema = copy.deepcopy(response_schema())
    schema["title"] = f"Response to {command}"
    schema["properties"]["data"] = {
        "anyOf": [_ref("schemas", data_schema), {"type": "null"}],
        "description": "the answer when ok; null when error",
    }
    return schema


def build_document() -> dict:
    """The AsyncAPI document as a plain dict (deterministic: no dates, sorted inputs)."""
    schemas: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    lane_params = {
        "storeId": {"description": "store_id of the lane config ([A-Za-z0-9_-]{1,64})"},
        "laneId": {"description": "lane_id of the lane config ([A-Za-z0-9_-]{1,64})"},
    }

    payloads = payload_schemas()
    for name, schema in payloads.items():
        schemas[_key(name)] = _hoist(schema, schemas)
    schemas["stats"] = _STATS
    schemas["response"] = response_schema()
    for name, schema in _TEXT_PAYLOADS.items():
        schemas[name] = schema
    for command, schema in request_schemas().items():
        schemas[_key(f"request/{command}")] = _hoist(schema, schemas)

    def add(
        channel_id: str,
        address: str,
        rule,
        message_id: str,
        payload_ref: dict,
        summary: str,
        params: dict,
        content_type: str = "application/json",
    ) -> None:
        messages[message_id] = {
            "name": message_id,
            "contentType": content_type,
            "summary": summary,
            "payload": payload_ref,
        }
        channels[channel_id] = {
            "address": f"{DEFAULT_PREFIX}/{{storeId}}/{{laneId}}/{address}",
            "description": rule.summary,
            "parameters": copy.deepcopy(params),
            "messages": {message_id: _ref("messages", message_id)},
        }
        action = "send" if rule.direction == "publish" else "receive"
        operations[f"{action}_{channel_id}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"the lane {'publishes' if action == 'send' else 'subscribes to'} {address}",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{message_id}"}],
            "bindings": {
                "mqtt": {"qos": rule.qos, "retain": rule.retained, "bindingVersion": "0.2.0"}
            },
        }

    for rule in CONTRACT:
        if rule.name in ("request", "response"):
            continue
        params = dict(lane_params)
        address = rule.pattern
        if "{component}" in address:
            params["component"] = {
                "description": "camera, light, outbox, evidence, model, button, "
                "or scanner/<id> (may span two levels)"
            }
        if rule.name in _TEXT_PAYLOADS:
            add(
                rule.name,
                address,
                rule,
                rule.name,
                _ref("schemas", rule.name),
                rule.payload,
                params,
                "text/plain",
            )
        else:
            summary = rule.summary
            if rule.name == "events":
                kinds = ", ".join(f"{t} -> data/{t}" for t in EVENT_DATA)
                summary = f"{rule.summary}. data schema by type: {kinds}; other types carry {{}}"
            add(
                rule.name,
                address,
                rule,
                rule.name,
                _ref("schemas", _key(rule.payload)),
                summary,
                params,
            )

    request_rule = next(r for r in CONTRACT if r.name == "request")
    response_rule = next(r for r in CONTRACT if r.name == "response")
    for command in sorted(COMMANDS):
        cid = _key(command).replace(".", "_")
        doc = ((COMMANDS[command].__doc__ or "").strip().splitlines() or [""])[0]
        limit = DEFAULT_LIMITS[command]
        doc = f"{doc} Rate: {limit.describe()}, burst {limit.burst}; over it: an error response."
        add(
            f"request_{cid}",
            f"request/{command}",
            request_rule,
            f"request_{cid}",
            _ref("schemas", _key(f"request/{command}")),
            doc or f"{command} request",
            dict(lane_params),
        )
        reply = _ref("schemas", "response")
        if f"response/{command}/data" in payloads:  # its answer's data is documented
            schemas[f"response_{cid}"] = _typed_response(command, f"response_{cid}_data")
            reply = _ref("schemas", f"response_{cid}")
        add(
            f"response_{cid}",
            f"response/{command}",
            response_rule,
            f"response_{cid}",
            reply,
            f"answer to {command}",
            dict(lane_params),
        )
        operations[f"receive_request_{cid}"]["reply"] = {
            "channel": {"$ref": f"#/channels/response_{cid}"},
            "messages": [{"$ref": f"#/channels/response_{cid}/messages/response_{cid}"}],
        }
    # Anything unparseable or unknown is answered on response/<name> or response/invalid.
    add(
        "response_invalid",
        "response/invalid",
        response_rule,
        "response_invalid",
        _ref("schemas", "response"),
        "error answer to a request whose command name is not a safe topic level",
        dict(lane_params),
    )

    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "edge_app store link",
            "version": SCHEMA_VERSION,
            "description": (
                "MQTT contract of one self-checkout lane. Generated from edge_app "
                f"(topics.py, events.py, commands.py); regenerate with `{REGENERATE}`. "
                f"The prefix '{DEFAULT_PREFIX}' is the default of mqtt.topic_prefix. "
                "Events are at-least-once: dedupe on event_id; seq counts per boot_id."
            ),
            "license": {
                "name": "AGPL-3.0-or-later",
                "url": "https://www.gnu.org/licenses/agpl-3.0.html",
            },
        },
        "defaultContentType": "application/json",
        "servers": {
            "store": {
                "host": "store-broker:8883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "the store's mosquitto (docs/store-broker); lanes use mqtt.url",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render() -> str:
    header = f"# Generated by edge_app.tools.asyncapi - do not edit.\n# Regenerate: {REGENERATE}\n"
    return header + yaml.safe_dump(build_document(), sort_keys=False, allow_unicode=True, width=100)


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
