"""Review light: the pure policy, GPIO pins on MockFactory, tower bytes on a real pty, the registry."""

import io
import time
from dataclasses import dataclass
from typing import Annotated

import pytest
from gpiozero.pins.mock import MockFactory
from pydantic import Field, TypeAdapter, ValidationError

from edge_app.config import ConsoleLightConfig, LightConfig
from edge_app.devices.lights.gpio import GpioLight, GpioLightConfig
from edge_app.devices.lights.mqtt_mirror import MqttMirrorConfig, MqttMirrorLight
from edge_app.devices.lights.policy import (
    TOWER,
    alert_severity,
    lane_light,
    light_state,
    worst_severity,
)
from edge_app.devices.lights.registry import drivers, make_light
from edge_app.devices.lights.usb_tower import UsbTowerConfig, UsbTowerLight, tower_bytes
from edge_app.devices.virtual_scanner import VirtualScanner
from edge_app.events import AlertData, LaneMode, LightState

WAIT_S = 5.0
PINS = {"red": 17, "yellow": 27, "green": 22, "buzzer": 23}

# ---------------------------------------------------------------- policy


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(mode=LaneMode.IDLE), LightState.AVAILABLE),
        (dict(mode=LaneMode.IN_TRANSACTION), LightState.AVAILABLE),
        (dict(mode=LaneMode.IN_TRANSACTION, pending_nudge=True), LightState.ASSIST),
        (dict(mode=LaneMode.REVIEW_REQUIRED), LightState.REVIEW),
        (dict(mode=LaneMode.REVIEW_REQUIRED, open_alerts=2, pending_nudge=True), LightState.REVIEW),
        (
            dict(mode=LaneMode.REVIEW_REQUIRED, open_alerts=1, alert_severity="intervention"),
            LightState.INTERVENTION,
        ),
        (
            dict(mode=LaneMode.IN_TRANSACTION, open_alerts=1, alert_severity="assist"),
            LightState.ASSIST,
        ),
        (
            dict(
                mode=LaneMode.REVIEW_REQUIRED,
                open_alerts=1,
                alert_severity="intervention",
                healthy=False,
            ),
            LightState.FAULT,
        ),
        (dict(mode=LaneMode.IDLE, healthy=False), LightState.FAULT),
        (
            dict(mode=LaneMode.REVIEW_REQUIRED, open_alerts=3, healthy=False, running=False),
            LightState.OFF,
        ),
    ],
)
def test_light_policy_priorities(kwargs, expected):
    mode = kwargs.pop("mode")
    assert light_state(mode, **kwargs) == expected


@dataclass(frozen=True)
class View:
    """The part of the engine's lane view the light reads."""

    mode: LaneMode
    pending: int = 0
    open_alerts: int = 0


def alert(alert_type, after_payment=False):
    return AlertData(f"a-{alert_type}", alert_type, after_payment=after_payment)


@pytest.mark.parametrize(
    "view, alerts, health, expected",
    [
        (View(LaneMode.IDLE), [], {}, LightState.AVAILABLE),
        (View(LaneMode.IN_TRANSACTION, pending=1), [], {}, LightState.ASSIST),
        (
            View(LaneMode.REVIEW_REQUIRED, open_alerts=1),
            [alert("missed_scan.bypass")],
            {},
            LightState.REVIEW,
        ),
        (View(LaneMode.REVIEW_REQUIRED, open_alerts=1), [alert("assist")], {}, LightState.ASSIST),
        (
            View(LaneMode.REVIEW_REQUIRED, open_alerts=2),
            [alert("assist"), alert("multi_item", after_payment=True)],
            {},
            LightState.INTERVENTION,
        ),
        (
            View(LaneMode.REVIEW_REQUIRED, open_alerts=2),
            [alert("assist"), alert("missed_scan.pass_over")],
            {},
            LightState.REVIEW,
        ),
        # the count says an alert is open but none is listed: the staff review default
        (View(LaneMode.REVIEW_REQUIRED, open_alerts=1), [], {}, LightState.REVIEW),
        (
            View(LaneMode.REVIEW_REQUIRED, open_alerts=1),
            [alert("assist")],
            {"healthy": False},
            LightState.FAULT,
        ),
        (View(LaneMode.IN_TRANSACTION, pending=2), [], {"running": False}, LightState.OFF),
    ],
)
def test_lane_light_rolls_view_alerts_and_health_into_one_state(view, alerts, health, expected):
    assert lane_light(
        view, alerts, running=health.get("running", True), healthy=health.get("healthy", True)
    ) == (expected)


def test_worst_severity_orders_intervention_review_assist():
    assert worst_severity([]) == "review"
    assert worst_severity([alert("assist")]) == "assist"
    assert worst_severity([alert("assist"), alert("missed_scan.bypass")]) == "review"
    assert (
        worst_severity([alert("missed_scan.bypass"), alert("assist", after_payment=True)])
        == "review"
    )
    assert (
        worst_severity([alert("missed_scan.bypass", after_payment=True), alert("assist")])
        == "intervention"
    )


def test_severity_defaults():
    assert alert_severity("assist") == "assist"
    assert alert_severity("missed_scan.pass_over") == "review"
    assert alert_severity("missed_scan.pass_over", after_payment=True) == "intervention"


def test_only_off_is_fully_dark():
    for state, pattern in TOWER.items():
        assert (set(pattern) == {"off"}) == (state == LightState.OFF)


# ---------------------------------------------------------------- gpio


def states(factory, name):
    return [s.state for s in factory.pin(PINS[name]).states]


def wait_for(predicate, timeout_s=WAIT_S):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


def gpio_light(factory, **overrides):
    cfg = GpioLightConfig(
        **PINS, blink_on_ms=10, blink_off_ms=10, beep_on_ms=10, beep_off_ms=10, **overrides
    )
    return GpioLight(cfg, pin_factory=factory)


@pytest.mark.parametrize(
    "state, steady",
    [
        (LightState.OFF, {"red": [False], "yellow": [False], "green": [False], "buzzer": [False]}),
        (
            LightState.AVAILABLE,
            {"red": [False], "yellow": [False], "green": [False, True], "buzzer": [False]},
        ),
        (
            LightState.ASSIST,
            {"red": [False], "yellow": [False, True], "green": [False], "buzzer": [False]},
        ),
        (
            LightState.FAULT,
            {"red": [False, True], "yellow": [False], "green": [False], "buzzer": [False]},
        ),
    ],
)
def test_gpio_steady_states_exact_pins(state, steady):
    factory = MockFactory()
    light = gpio_light(factory)
    light.show(state)
    light.show(state)  # the periodic re-send changes nothing
    for name, expected in steady.items():
        assert states(factory, name) == expected, name
    light.close()


@pytest.mark.parametrize(
    "state, blinking, dark",
    [
        (LightState.REVIEW, ["yellow"], ["red", "green", "buzzer"]),
        (LightState.INTERVENTION, ["red", "buzzer"], ["yellow", "green"]),
    ],
)
def test_gpio_flashing_states_toggle_in_the_background(state, blinking, dark):
    factory = MockFactory()
    light = gpio_light(factory)
    light.show(state)
    for name in blinking:
        assert wait_for(lambda name=name: len(states(factory, name)) >= 5), name
        assert states(factory, name)[:5] == [False, True, False, True, False]
    light.show(state)  # re-send while flashing: no restart, no stray level
    for name in dark:
        assert states(factory, name) == [False], name
    light.close()
    for name in blinking:
        assert states(factory, name)[-1] is False  # closed: dark


def test_gpio_transitions_and_active_low():
    factory = MockFactory()
    light = gpio_light(factory, active_high=False)
    # active low: the pin idles high (lamp off) and goes low to light
    assert states(factory, "green") == [False, True]
    light.show(LightState.AVAILABLE)
    light.show(LightState.FAULT)
    light.show(LightState.OFF)
    assert states(factory, "green") == [False, True, False, True]
    assert states(factory, "red") == [False, True, False, True]
    light.close()


def test_gpio_buzzer_stops_after_the_configured_beeps():
    factory = MockFactory()
    light = gpio_light(factory, beeps=2)
    light.show(LightState.INTERVENTION)
    thread = light._buzzer._blink_thread
    assert wait_for(lambda: not thread.is_alive())
    assert states(factory, "buzzer") == [False, True, False, True, False]
    light.close()


def test_gpio_light_with_only_some_lamps():
    factory = MockFactory()
    light = GpioLight(GpioLightConfig(red=5), pin_factory=factory)
    light.show(LightState.FAULT)
    assert [s.state for s in factory.pin(5).states] == [False, True]
    light.close()


# ---------------------------------------------------------------- usb tower


@pytest.fixture
def tower_device(tmp_path):
    dev = VirtualScanner(link=tmp_path / "tower")
    yield dev
    dev.close()


def read_exactly(dev, n):
    got = b""
    end = time.monotonic() + WAIT_S
    while len(got) < n and time.monotonic() < end:
        got += dev.read(n - len(got), timeout_s=0.2)
    return got


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize(
    "state, wire",
    [
        (LightState.OFF, "21 22 24 28"),
        (LightState.AVAILABLE, "21 22 14 28"),
        (LightState.ASSIST, "21 12 24 28"),
        (LightState.REVIEW, "21 42 24 28"),
        (LightState.INTERVENTION, "41 22 24 48"),
        (LightState.FAULT, "11 22 24 28"),
    ],
)
def test_tower_exact_bytes_per_state(tower_device, state, wire):
    light = UsbTowerLight(UsbTowerConfig(port=tower_device.path, buzzer_ms=60_000), clock=Clock())
    light.show(state)
    assert read_exactly(tower_device, 4).hex(" ") == wire
    light.show(state)  # idempotent within refresh_ms
    assert tower_device.read(timeout_s=0.05) == b""
    light._buzzer_timer and light._buzzer_timer.cancel()


def test_tower_buzzer_sounds_only_for_buzzer_ms(tower_device):
    light = UsbTowerLight(UsbTowerConfig(port=tower_device.path, buzzer_ms=20), clock=Clock())
    light.show(LightState.INTERVENTION)
    assert read_exactly(tower_device, 5).hex(" ") == "41 22 24 48 28"


def test_tower_refresh_resends_without_buzzer(tower_device):
    clock = Clock()
    light = UsbTowerLight(
        UsbTowerConfig(port=tower_device.path, buzzer_ms=60_000, refresh_ms=1000), clock=clock
    )
    light.show(LightState.INTERVENTION)
    assert read_exactly(tower_device, 4).hex(" ") == "41 22 24 48"
    clock.now += 2
    light.show(LightState.INTERVENTION)
    assert read_exactly(tower_device, 4).hex(" ") == "41 22 24 28"
    light._buzzer_timer.cancel()


def test_tower_unplug_then_replug_resends_the_state(tower_device):
    clock = Clock()
    statuses = []
    light = UsbTowerLight(
        UsbTowerConfig(port=tower_device.path, reconnect_initial_ms=1000),
        clock=clock,
        on_status=lambda ok, detail: statuses.append(ok),
    )
    light.show(LightState.AVAILABLE)
    assert read_exactly(tower_device, 4).hex(" ") == "21 22 14 28"
    tower_device.unplug()
    light.show(LightState.REVIEW)  # write fails: the tower is gone
    assert light.connected is False
    light.show(LightState.REVIEW)  # reopen fails: back off
    clock.now += 0.5
    tower_device.replug()
    light.show(LightState.REVIEW)  # still backing off: nothing sent
    assert tower_device.read(timeout_s=0.05) == b""
    clock.now += 1
    light.show(LightState.REVIEW)  # the app's periodic re-send reaches the new device
    assert read_exactly(tower_device, 4).hex(" ") == "21 42 24 28"
    assert statuses == [True, False, True]
    light.close()
    assert read_exactly(tower_device, 4).hex(" ") == "21 22 24 28"  # dark on close


def test_tower_missing_port_does_not_raise(tmp_path):
    light = UsbTowerLight(UsbTowerConfig(port=str(tmp_path / "nothing")), clock=Clock())
    light.show(LightState.FAULT)
    assert light.connected is False and "cannot open" in light.detail


def test_tower_bytes_without_buzzer():
    assert tower_bytes(LightState.INTERVENTION, buzzer=False).hex(" ") == "41 22 24 28"


# ---------------------------------------------------------------- mqtt mirror


def test_mqtt_mirror_publishes_changes_retained_and_retries():
    sent, fail = [], [True]

    def publish(topic, payload, retain):
        if fail[0]:
            fail[0] = False
            raise ConnectionError("broker down")
        sent.append((topic, payload, retain))

    light = MqttMirrorLight(MqttMirrorConfig(topic="light/tower"), publish=publish)
    light.show(LightState.REVIEW)  # fails, kept for the next re-send
    light.show(LightState.REVIEW)
    light.show(LightState.REVIEW)  # already published: nothing
    assert sent == [
        (
            "light/tower",
            '{"state": "review", "red": "off", "yellow": "blink", "green": "off", "buzzer": "off"}',
            True,
        )
    ]
    light.close()
    assert sent[-1][1].startswith('{"state": "off"')


def test_mqtt_mirror_needs_publish():
    with pytest.raises(ValueError):
        MqttMirrorLight(MqttMirrorConfig())


# ---------------------------------------------------------------- registry


def test_registry_finds_every_driver_and_each_runs_every_state(tmp_path):
    keys = set(drivers())
    assert {"console", "none", "gpio", "usb_tower", "mqtt_mirror"} <= keys
    union = TypeAdapter(Annotated[LightConfig, Field(discriminator="type")])
    device = VirtualScanner(link=tmp_path / "tower")
    raw = {
        "gpio": {"type": "gpio", **PINS},
        "usb_tower": {"type": "usb_tower", "port": device.path, "buzzer_ms": 0},
    }
    published = []
    try:
        for key in sorted(keys):
            cfg = union.validate_python(raw.get(key, {"type": key}))
            assert type(cfg) is drivers()[key].Config and cfg.type == key
            light = make_light(
                cfg,
                pin_factory=MockFactory(),
                publish=lambda *a: published.append(a),
                stream=io.StringIO(),
            )
            assert light.KEY == key
            for state in LightState:
                light.show(state)
                assert light.state == state, key
            light.close()
            assert light.state == LightState.OFF, key
    finally:
        device.close()
    assert published and published[-1][1].startswith('{"state": "off"')


def test_every_light_config_has_its_driver_and_every_driver_its_config():
    from typing import get_args

    from edge_app.config import LIGHT_TYPES, LightConfig

    assert {d.Config for d in drivers().values()} == set(get_args(LightConfig))
    assert set(drivers()) == LIGHT_TYPES


def test_a_driver_whose_config_is_not_in_the_lane_schema_is_refused():
    from edge_app.devices.lights.registry import _check_configs

    class LavaLampConfig(ConsoleLightConfig):  # a config class the lane schema does not know
        pass

    lava = type("LavaLamp", (), {"KEY": "console", "Config": LavaLampConfig})
    with pytest.raises(TypeError, match="console"):
        _check_configs({**drivers(), "console": lava})
    without_none = {k: v for k, v in drivers().items() if k != "none"}
    with pytest.raises(TypeError, match="without a driver"):
        _check_configs(without_none)


def test_light_config_rejects_unknown_keys():
    union = TypeAdapter(Annotated[LightConfig, Field(discriminator="type")])
    with pytest.raises(ValidationError):
        union.validate_python({"type": "gpio", "red": 17, "purple": 4})
    with pytest.raises(ValidationError):
        union.validate_python({"type": "disco"})
