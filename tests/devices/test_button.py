"""Staff key: MockFactory pin edges -> StaffAction, bounce and cooldown dropped."""

from gpiozero.pins.mock import MockFactory

from edge_app.devices.button import PressClassifier, StaffButton
from edge_app.events import StaffAction


class Clock:
    def __init__(self):
        self.now = 10.0

    def __call__(self):
        return self.now


def press(factory, pin, clock, down_at, up_at):
    clock.now = down_at
    factory.pin(pin).drive_low()  # key to ground, internal pull-up
    clock.now = up_at
    factory.pin(pin).drive_high()


def test_short_and_long_press_through_a_mock_pin():
    factory, clock, actions = MockFactory(), Clock(), []
    button = StaffButton(26, actions.append, clock=clock, pin_factory=factory)
    press(factory, 26, clock, 11.0, 11.2)
    press(factory, 26, clock, 20.0, 23.0)
    assert actions == [
        StaffAction(ts=11.2, resolution="item_added", source="button"),
        StaffAction(ts=23.0, resolution="customer_left", source="button"),
    ]
    button.close()


def test_contact_bounce_gives_one_clear():
    factory, clock, actions = MockFactory(), Clock(), []
    button = StaffButton(26, actions.append, clock=clock, pin_factory=factory)
    pin = factory.pin(26)
    for t, level in [
        (1.000, 0),
        (1.003, 1),
        (1.006, 0),
        (1.009, 1),
        (1.012, 0),
        (1.250, 1),
        (1.252, 0),
        (1.254, 1),
    ]:
        clock.now = t
        pin.drive_low() if level == 0 else pin.drive_high()
    assert [a.resolution for a in actions] == ["item_added"]
    button.close()


def test_cooldown_and_configured_resolutions():
    c = PressClassifier(min_press_ms=30, long_press_ms=1000, cooldown_ms=500)
    assert [c.edge(True, 0.0), c.edge(False, 0.1)] == [None, "short"]
    assert [c.edge(True, 0.2), c.edge(False, 0.3)] == [None, None]  # within cooldown
    assert [c.edge(True, 1.0), c.edge(False, 1.1)] == [None, "short"]
    assert c.edge(False, 1.2) is None  # release without press

    factory, clock, actions = MockFactory(), Clock(), []
    button = StaffButton(
        5, actions.append, clock=clock, pin_factory=factory, short_press="false_alarm"
    )
    press(factory, 5, clock, 11.0, 11.1)
    assert actions[0].resolution == "false_alarm"
    button.close()
