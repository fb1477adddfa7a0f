"""Review light mirrored to MQTT: for a tower wired to another box (ESP32, PLC, Zigbee2MQTT).

The app hands in ``publish(topic, payload, retain)``, its own store-link
publisher; this driver opens no connection. The payload names the state and
each lamp, so a dumb controller can switch relays without knowing our
states. Retained, so a controller that reconnects shows the current state.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable

from edge_app.config import MqttMirrorConfig
from edge_app.devices.lights.base import ReviewLight
from edge_app.devices.lights.policy import TOWER
from edge_app.events import LightState

log = logging.getLogger(__name__)

KEY = "mqtt_mirror"

Publish = Callable[[str, bytes | str, bool], None]


def mirror_payload(state: LightState) -> str:
    """JSON for one state.

    >>> mirror_payload(LightState.REVIEW)
    '{"state": "review", "red": "off", "yellow": "blink", "green": "off", "buzzer": "off"}'
    """
    return json.dumps({"state": state.value, **TOWER[state]._asdict()})


class MqttMirrorLight(ReviewLight[MqttMirrorConfig]):
    KEY = KEY
    Config = MqttMirrorConfig

    def __init__(self, config: MqttMirrorConfig, publish: Publish | None = None, **kwargs) -> None:
        super().__init__(config)
        if publish is None:
            raise ValueError(
                "the mqtt_mirror light needs the app's publish(topic, payload, retain)"
            )
        self._publish = publish
        self._lock = threading.Lock()
        self._published: LightState | None = None

    def show(self, state: LightState) -> None:
        with self._lock:
            self.state = state
            if state == self._published:
                return
            try:
                self._publish(self.config.topic, mirror_payload(state), self.config.retain)
            except Exception:  # the broker link is down: retry on the next periodic show
                log.warning("light mirror: publish to %s failed", self.config.topic, exc_info=True)
                return
            self._published = state
