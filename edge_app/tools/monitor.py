"""``edge-app monitor``: the HQ terminal view, one row per lane, live.

``FleetView`` (pure) folds MQTT messages into rows; the command around it
subscribes to ``<prefix>/<store|+>/+/#`` and redraws with plain ANSI (no
extra dependency), or with ``--once N --json`` collects for N seconds and
prints the rows as JSON (scripts, tests, cron checks).

>>> v = FleetView()
>>> v.fold("checkout/v1/s1/l2/availability", b"online")
True
>>> v.fold("checkout/v1/s1/l2/stats", b'{"fps": 29.7, "outbox_depth": 3}')
True
>>> r = v.rows()[0]; (r.lane_id, r.availability, r.fps, r.outbox_depth)
('l2', 'online', 29.7, 3)
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from edge_app.store_link.topics import DEFAULT_PREFIX, fleet_filter, parse_topic

_SEVERITY = {"ok": 0, "degraded": 1, "down": 2}


@dataclass
class LaneRow:
    """What HQ wants to see about one lane at a glance."""

    store_id: str
    lane_id: str
    availability: str = "unknown"
    mode: str = ""
    light: str = ""
    transaction_id: str = ""
    open_alerts: int = 0
    unverified: bool = False
    last_alert: str = ""
    last_alert_at: str = ""
    items: int = 0  # over closed transactions seen by this monitor
    alerts: int = 0  # ditto (transaction summaries)
    fps: float | None = None
    outbox_depth: int | None = None
    components: dict = field(default_factory=dict)  # component -> ok/degraded/down
    boot_id: str = ""
    version: str = ""

    @property
    def alerts_per_100_items(self) -> float | None:
        return round(100.0 * self.alerts / self.items, 1) if self.items else None

    @property
    def health(self) -> str:
        bad = sorted(
            (c for c, s in self.components.items() if s != "ok"),
            key=lambda c: (-_SEVERITY.get(self.components[c], 2), c),
        )
        return (
            ", ".join(f"{c}:{self.components[c]}" for c in bad)
            if bad
            else ("ok" if self.components else "")
        )

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["alerts_per_100_items"] = self.alerts_per_100_items
        out["health"] = self.health
        return out


class FleetView:
    """Fold lane messages into rows; duplicate events (at-least-once) count once."""

    def __init__(
        self,
        prefix: str = DEFAULT_PREFIX,
        store_id: str | None = None,
        remember_events: int = 20_000,
    ):
        self.prefix = prefix
        self.store_id = store_id
        self._rows: dict[tuple[str, str], LaneRow] = {}
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._remember = remember_events
        self.ignored = 0

    def _row(self, store_id: str, lane_id: str) -> LaneRow:
        key = (store_id, lane_id)
        if key not in self._rows:
            self._rows[key] = LaneRow(store_id, lane_id)
        return self._rows[key]

    def fold(self, topic: str, payload: bytes) -> bool:
        """Apply one message; False when it was foreign, malformed or a duplicate."""
        parsed = parse_topic(self.prefix, topic)
        if parsed is None or (self.store_id and parsed.store_id != self.store_id):
            self.ignored += 1
            return False
        row = self._row(parsed.store_id, parsed.lane_id)
        try:
            if parsed.name == "availability":
                row.availability = payload.decode("utf-8", "replace")[:16] or "unknown"
                return True
            if parsed.name == "light":
                row.light = payload.decode("utf-8", "replace")[:16]
                return True
            if parsed.name in ("request", "response"):
                return False
            body = json.loads(payload) if payload else None
            if not isinstance(body, dict):
                self.ignored += 1
                return False
            return self._fold_json(row, parsed.name, parsed.rest, body)
        except (ValueError, TypeError, KeyError):
            self.ignored += 1
            return False

    def _fold_json(self, row: LaneRow, name: str, rest: str, body: dict) -> bool:
        if name == "state":
            row.mode = str(body.get("mode", ""))
            row.light = str(body.get("light", row.light))
            row.transaction_id = str(body.get("transaction_id", ""))
            row.open_alerts = int(body.get("open_alerts", 0))
            row.unverified = bool(body.get("unverified", False))
            row.boot_id = str(body.get("boot_id", ""))
            row.version = str(body.get("version", ""))
        elif name == "status":
            row.components[rest] = str(body.get("status", "down"))
        elif name == "stats":
            if isinstance(body.get("fps"), (int, float)):
                row.fps = float(body["fps"])
            if isinstance(body.get("outbox_depth"), int):
                row.outbox_depth = body["outbox_depth"]
        elif name == "events":
            event_id = str(body["event_id"])
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            if len(self._seen) > self._remember:
                self._seen.popitem(last=False)
            data = body.get("data") or {}
            if body.get("type") == "alert.raised":
                row.last_alert = str(data.get("alert_type", "?"))
                row.last_alert_at = str(body.get("ts", ""))
            elif body.get("type") == "transaction.ended":
                row.items += int(data.get("items", 0))
                row.alerts += int(data.get("alerts", 0))
        else:
            return False
        return True

    def rows(self) -> list[LaneRow]:
        return [self._rows[k] for k in sorted(self._rows)]


_COLUMNS = [
    ("LANE", lambda r: f"{r.store_id}/{r.lane_id}"),
    ("AVAIL", lambda r: r.availability),
    ("MODE", lambda r: r.mode + (" (unverified)" if r.unverified else "")),
    ("LIGHT", lambda r: r.light),
    ("OPEN", lambda r: str(r.open_alerts)),
    ("LAST ALERT", lambda r: f"{r.last_alert} {r.last_alert_at[11:19]}".strip()),
    (
        "ALERTS/100",
        lambda r: "-" if r.alerts_per_100_items is None else f"{r.alerts_per_100_items:.1f}",
    ),
    ("FPS", lambda r: "-" if r.fps is None else f"{r.fps:.1f}"),
    ("OUTBOX", lambda r: "-" if r.outbox_depth is None else str(r.outbox_depth)),
    ("HEALTH", lambda r: r.health),
]


def printable(text: str) -> str:
    r"""``text`` with control characters shown escaped: a payload must not drive the terminal.

    >>> printable("review\x1b]0;pwned\x07")
    'review\\x1b]0;pwned\\x07'
    """
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in text)


def render_table(rows: list[LaneRow]) -> str:
    """Plain-text table (pure), one line per lane; whatever a lane sent is shown, never obeyed."""
    cells = [[name for name, _ in _COLUMNS]] + [
        [printable(get(r)) for _, get in _COLUMNS] for r in rows
    ]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    ]
    if not rows:
        lines.append("(no lanes seen yet)")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# the command (imperative shell)
# --------------------------------------------------------------------------


def register(subparsers) -> argparse.ArgumentParser:
    """Add ``monitor`` to an ``add_subparsers()`` object; ``args.func(args)`` returns the exit code."""
    p = subparsers.add_parser(
        "monitor",
        help="HQ view of every lane (live, or --once N --json)",
        description="Subscribe to the lanes' MQTT topics and show one row per lane.",
    )
    p.add_argument("--host", default="127.0.0.1", help="broker host")
    p.add_argument("--port", type=int, default=1883, help="broker port")
    p.add_argument("--store", default=None, help="only this store_id")
    p.add_argument("--prefix", default=DEFAULT_PREFIX, help="topic prefix (mqtt.topic_prefix)")
    p.add_argument(
        "--username", default=os.environ.get("MQTT_USERNAME"), help="default: $MQTT_USERNAME"
    )
    p.add_argument("--password", default=None, help="default: $MQTT_PASSWORD (prefer the variable)")
    p.add_argument("--tls", action="store_true", help="TLS with the system CAs or --ca-file")
    p.add_argument("--ca-file", default=None)
    p.add_argument(
        "--once",
        type=float,
        default=None,
        metavar="SECONDS",
        help="collect for SECONDS, print once and exit",
    )
    p.add_argument("--json", action="store_true", help="print rows as JSON (with --once)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    view = FleetView(args.prefix, args.store)
    lock = threading.Lock()
    status = {"connected": False, "ever": False, "why": "connecting"}

    def on_connect(client, userdata, flags, reason_code, properties):
        if reason_code.is_failure:
            status["why"] = f"refused: {reason_code}"
            return
        status.update(connected=True, ever=True, why="connected")
        client.subscribe(fleet_filter(args.prefix, args.store), qos=1)

    def on_disconnect(client, userdata, flags, reason_code, properties):
        status.update(connected=False, why=f"disconnected: {reason_code}")

    def on_message(client, userdata, message):
        with lock:
            view.fold(message.topic, bytes(message.payload))

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    password = args.password if args.password is not None else os.environ.get("MQTT_PASSWORD")
    if args.username:
        client.username_pw_set(args.username, password)
    if args.tls or args.ca_file:
        client.tls_set(ca_certs=args.ca_file)
    client.on_connect, client.on_disconnect, client.on_message = (
        on_connect,
        on_disconnect,
        on_message,
    )
    client.reconnect_delay_set(1, 10)
    client.connect_async(args.host, args.port, keepalive=30)
    client.loop_start()
    try:
        if args.once is not None:
            time.sleep(max(0.0, args.once))
            with lock:
                rows = view.rows()
            if not status["ever"]:
                print(
                    f"monitor: could not reach {args.host}:{args.port} ({status['why']})",
                    file=sys.stderr,
                )
                return 2
            if args.json:
                print(json.dumps([r.to_dict() for r in rows], indent=2, sort_keys=True))
            else:
                print(render_table(rows))
            return 0
        while True:
            with lock:
                table = render_table(view.rows())
            head = f"edge-app monitor  {args.host}:{args.port}  {status['why']}  {time.strftime('%H:%M:%S')}"
            sys.stdout.write("\x1b[H\x1b[2J" + head + "\n\n" + table + "\n")
            sys.stdout.flush()
            time.sleep(1.0)
    except KeyboardInterrupt:
        return 0
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: list[str] | None = None) -> int:
    """Standalone entry (``python -m edge_app.tools.monitor …``) until cli.py wires it."""
    parser = argparse.ArgumentParser(prog="edge-app")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["monitor", *(sys.argv[1:] if argv is None else argv)])
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
