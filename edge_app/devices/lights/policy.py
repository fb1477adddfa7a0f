"""What the review light shows, and how a three-colour tower shows it. Pure.

``lane_light`` rolls a lane up into one state: its view, the severities of
its open alerts (``worst_severity``) and its health. ``light_state`` decides,
by priority: a stopped app is dark (never "all fine"), an unhealthy lane is
red (a blind lane must not look available), then staff intervention, staff
review, the shopper nudge, and green. ``TOWER``
says which lamp is on, off or blinking for each state; the gpio and
usb_tower drivers both read it, so every tower looks the same.

>>> light_state(LaneMode.IN_TRANSACTION, pending_nudge=True)
<LightState.ASSIST: 'assist'>
>>> light_state(LaneMode.REVIEW_REQUIRED, open_alerts=1, alert_severity="intervention")
<LightState.INTERVENTION: 'intervention'>
>>> light_state(LaneMode.IDLE, healthy=False)
<LightState.FAULT: 'fault'>
>>> light_state(LaneMode.IDLE, running=False, healthy=False)
<LightState.OFF: 'off'>
>>> TOWER[LightState.REVIEW]
TowerPattern(red='off', yellow='blink', green='off', buzzer='off')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple, Protocol

from edge_app.events import AlertData, AlertType, LaneMode, LightState

Severity = Literal["assist", "review", "intervention"]
Lamp = Literal["off", "on", "blink"]

_SEVERITY_LIGHT = {
    "assist": LightState.ASSIST,
    "review": LightState.REVIEW,
    "intervention": LightState.INTERVENTION,
}


def alert_severity(alert_type: str, after_payment: bool = False) -> Severity:
    """Default severity of an open alert (the engine may override).

    A shopper who seems stuck needs help, not suspicion; an unscanned item
    found after payment started needs staff now.

    >>> alert_severity("assist"), alert_severity("missed_scan.bypass"), alert_severity("multi_item", True)
    ('assist', 'review', 'intervention')
    """
    if alert_type == AlertType.ASSIST:
        return "assist"
    return "intervention" if after_payment else "review"


def light_state(
    mode: LaneMode,
    *,
    running: bool = True,
    healthy: bool = True,
    pending_nudge: bool = False,
    open_alerts: int = 0,
    alert_severity: Severity = "review",
) -> LightState:
    """The lane's light from its state; highest priority first.

    Args:
        mode: the lane mode the engine publishes.
        running: False while the app is stopping or not started: dark.
        healthy: False when any component (camera, scanner, model) is down.
        pending_nudge: a journey waits for its scan (kiosk shows "please scan").
        open_alerts: uncleared staff alerts.
        alert_severity: the highest severity among the open alerts.
    """
    if not running:
        return LightState.OFF
    if not healthy:
        return LightState.FAULT
    if open_alerts > 0:
        return _SEVERITY_LIGHT[alert_severity]
    if mode == LaneMode.REVIEW_REQUIRED:
        return LightState.REVIEW
    if pending_nudge:
        return LightState.ASSIST
    return LightState.AVAILABLE


_WORST_FIRST: tuple[Severity, ...] = ("intervention", "review", "assist")


class LaneShown(Protocol):
    """What the light needs of the lane's view (the engine's ``LaneView`` has it)."""

    @property
    def mode(self) -> LaneMode: ...

    @property
    def pending(self) -> int: ...

    @property
    def open_alerts(self) -> int: ...


def worst_severity(alerts: Iterable[AlertData]) -> Severity:
    """The highest severity among the open alerts; "review" when there are none.

    >>> worst_severity([AlertData("a1", "assist"), AlertData("a2", "multi_item", after_payment=True)])
    'intervention'
    >>> worst_severity([AlertData("a1", "assist")]), worst_severity([])
    ('assist', 'review')
    """
    found = {alert_severity(a.alert_type, a.after_payment) for a in alerts}
    for severity in _WORST_FIRST:
        if severity in found:
            return severity
    return "review"


def lane_light(
    lane: LaneShown, alerts: Iterable[AlertData], *, running: bool, healthy: bool
) -> LightState:
    """The light of a whole lane: its view, its open alerts (severities) and its health.

    Args:
        lane: the engine's view after the last step (mode, pending journeys, open alert count).
        alerts: the open alerts themselves, for their severity.
        running: False while the app is stopping or not started.
        healthy: False when any component is down.
    """
    return light_state(
        lane.mode,
        running=running,
        healthy=healthy,
        pending_nudge=lane.pending > 0,
        open_alerts=lane.open_alerts,
        alert_severity=worst_severity(alerts),
    )


#: what ``light/test`` shows, each state in turn, so staff can check every lamp and the buzzer
LIGHT_TEST = (
    LightState.AVAILABLE,
    LightState.ASSIST,
    LightState.REVIEW,
    LightState.INTERVENTION,
    LightState.FAULT,
)
LIGHT_TEST_STEP_S = 1.0


def light_test_state(elapsed_s: float) -> LightState | None:
    """What the lamps show ``elapsed_s`` into a light test; None once it is over.

    >>> light_test_state(0.0), light_test_state(2.5), light_test_state(5.0)
    (<LightState.AVAILABLE: 'available'>, <LightState.REVIEW: 'review'>, None)
    """
    step = max(0, int(elapsed_s // LIGHT_TEST_STEP_S))
    return LIGHT_TEST[step] if step < len(LIGHT_TEST) else None


class TowerPattern(NamedTuple):
    """Each lamp of a red/yellow/green tower with buzzer."""

    red: Lamp
    yellow: Lamp
    green: Lamp
    buzzer: Lamp


TOWER: dict[LightState, TowerPattern] = {
    LightState.OFF: TowerPattern("off", "off", "off", "off"),
    LightState.AVAILABLE: TowerPattern("off", "off", "on", "off"),
    LightState.ASSIST: TowerPattern("off", "on", "off", "off"),
    LightState.REVIEW: TowerPattern("off", "blink", "off", "off"),
    LightState.INTERVENTION: TowerPattern("blink", "off", "off", "blink"),
    LightState.FAULT: TowerPattern("on", "off", "off", "off"),
}
