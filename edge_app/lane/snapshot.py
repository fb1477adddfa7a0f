"""The lane's published view: what other threads may read of the lane.

The lane thread builds a new ``LaneSnapshot`` after every step and replaces
the old one whole (one attribute assignment); the MQTT thread answers
``request/snapshot`` from it and never reads the engine, whose state only the
lane thread touches.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_app.events import LaneMode


@dataclass(frozen=True)
class LaneSnapshot:
    """The lane as of its last step; never changed, only replaced."""

    mode: LaneMode
    transaction_id: str
    open_alerts: int
    pending: int
    #: (component, ok/degraded/down) in the order the components first reported
    statuses: tuple[tuple[str, str], ...]
    frames: int

    def to_reply(self) -> dict:
        """The ``response/snapshot`` data."""
        return {
            "mode": self.mode.value,
            "transaction_id": self.transaction_id,
            "open_alerts": self.open_alerts,
            "pending": self.pending,
            "statuses": dict(self.statuses),
            "frames": self.frames,
        }
