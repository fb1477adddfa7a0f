"""store_link: the lane's MQTT contract and the client that keeps it.

topics.py    the topic tree, retain flag and QoS of every topic (pure)
envelope.py  LaneEvent -> Envelope (event_id, boot_id, seq, UTC ts), schema checks (pure)
commands.py  request/<command> validation and the one response (pure)
gate.py      each request_id once, each command within its rate (pure decisions)
outbox.py    SQLite (WAL) outbox: stored before publish, deleted on PUBACK, bounded
client.py    StoreLink: paho-mqtt 2.x, Last Will, republish on reconnect, ordered drain
monitor.py   `edge-app monitor`: the HQ view (FleetView is pure)
asyncapi.py  docs/asyncapi.yaml, generated from the modules above
"""
