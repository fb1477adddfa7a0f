"""A minimal lane for process-level tests: StoreLink + Outbox, killable with -9.

Prints ``PUT <n>`` once n events are in the outbox, ``CONNECTED`` when the
broker accepted it; reads ``stop`` on stdin to shut down cleanly.
"""

from __future__ import annotations

import argparse
import sys
import threading

from edge_app.config import MqttConfig
from edge_app.events import LaneEvent
from edge_app.store_link.client import StoreLink
from edge_app.store_link.outbox import Outbox


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--outbox", required=True)
    ap.add_argument("--store", default="s1")
    ap.add_argument("--lane", default="l1")
    ap.add_argument("--boot-id", required=True)
    ap.add_argument("--publish", type=int, default=0)
    args = ap.parse_args()

    connected = threading.Event()

    def on_connection(up: bool, reason: str) -> None:
        if up and not connected.is_set():
            connected.set()
            print("CONNECTED", flush=True)

    outbox = Outbox(args.outbox, 100_000)  # synchronous=FULL: the production setting
    link = StoreLink(
        MqttConfig(url=args.url),
        args.store,
        args.lane,
        outbox,
        args.boot_id,
        on_connection=on_connection,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
    )
    link.start()
    for i in range(args.publish):
        link.publish_event(
            LaneEvent(
                ts=float(i),
                type="scan.registered",
                transaction_id="t-1",
                data={"scanner_id": "flatbed", "gtin": "05000112637939", "symbology": "EAN-13"},
            )
        )
    print(f"PUT {args.publish}", flush=True)
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    link.stop(timeout_s=5.0)
    outbox.close()
    print("STOPPED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
