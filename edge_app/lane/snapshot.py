"""The lane's published view, and the evidence clip a ``request/snapshot`` keeps.

The lane thread builds a new ``LaneSnapshot`` after every step and replaces
the old one whole (one attribute assignment); the MQTT thread answers
``request/snapshot`` from it and never reads the engine, whose state only the
lane thread touches.

``request/snapshot`` means what docs/asyncapi.yaml says: keep an evidence
clip of the last seconds now (staff asked, an audit). ``SnapshotClips`` names
the clip on the MQTT thread, so the answer can say which file to fetch; the
clip itself is cut by the lane thread from a ``SnapshotAsked`` inbox item,
as an alert's is.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from edge_app.events import LaneMode, SnapshotReply


@dataclass(frozen=True)
class SnapshotAsked:
    """``request/snapshot`` arrived: the lane thread keeps the clip ``clip_id`` around ``ts``."""

    ts: float
    clip_id: str


@dataclass(frozen=True)
class SnapshotClip:
    """The clip a request gets: its name, when it is complete (lane clock), whether it is new."""

    clip_id: str
    until: float
    new: bool


class SnapshotClips:
    """Names snapshot clips; a request while one still records joins it.

    Called on the MQTT thread (hence the lock). A burst of requests gives one
    clip and one writer thread, not one each.

    >>> clips = SnapshotClips(post_s=2.0)
    >>> a = clips.ask(10.0, wall=0.0); b = clips.ask(11.0, wall=1.0); c = clips.ask(12.5, wall=2.5)
    >>> a.clip_id, a.new, b.clip_id == a.clip_id, b.new, c.clip_id, c.new
    ('snapshot-19700101T000000Z-1', True, True, False, 'snapshot-19700101T000002Z-2', True)
    """

    def __init__(self, post_s: float) -> None:
        self.post_s = post_s
        self._lock = threading.Lock()
        self._open: SnapshotClip | None = None
        self._count = 0

    def ask(self, now: float, wall: float) -> SnapshotClip:
        """The clip for a request at lane time ``now`` (``wall``: UTC seconds, for its name)."""
        with self._lock:
            if self._open is not None and now < self._open.until:
                return SnapshotClip(self._open.clip_id, self._open.until, new=False)
            self._count += 1
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall))
            self._open = SnapshotClip(f"snapshot-{stamp}-{self._count}", now + self.post_s, True)
            return self._open


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

    def to_reply(self, clip: SnapshotClip, now: float, reason: str = "") -> dict:
        """The ``response/snapshot`` data (``events.SnapshotReply``) for ``clip``, asked at ``now``."""
        return SnapshotReply(
            clip=f"{clip.clip_id}.avi",
            thumbnail=f"{clip.clip_id}.jpg",
            ready_in_s=round(max(0.0, clip.until - now), 3),
            joined=not clip.new,
            reason=reason,
            mode=self.mode.value,
            transaction_id=self.transaction_id,
            open_alerts=self.open_alerts,
            pending=self.pending,
            statuses=dict(self.statuses),
            frames=self.frames,
        ).to_dict()
