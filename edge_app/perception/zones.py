"""Zone membership of tracks with hysteresis: tracks in, ZoneEvents out.

A track is inside a zone when its box centre is inside the zone polygon
(normalised 0..1 in the lane file, scaled to the frame here). A track must be
inside for ``enter_frames`` consecutive frames before "entered" and outside
for ``exit_frames`` before "exited", so a box flickering on an edge gives one
enter, not a stream of enter/exit pairs (supervision #2598). Unconfirmed tracks
are skipped (supervision #2578), and lost tracks are pruned with an
action="lost" event, so state never grows without bound.

``group_size`` counts the item tracks that move together with this one: the
items carried by the same hand, or items whose boxes are within
``group_gap`` box sizes of each other and whose velocities agree (stacked
items lifted together). ``carried`` says a hand track carries the item
(:class:`edge_app.perception.tracker.CarryAssociator`).

>>> from edge_app.config import ZonesConfig
>>> zones = ZonesConfig(pick=[(0, 0), (0.5, 0), (0.5, 1), (0, 1)], scan=[(0.5, 0), (1, 0), (1, 1), (0.5, 1)],
...                     bag=[(0.9, 0.9), (1, 0.9), (1, 1)], enter_frames=1)
>>> mapper = ZoneMapper(zones, (640, 480))
>>> box = Track(7, np.array([10, 10, 50, 50], np.float32), "bottle", 0.9, "item", 3, True)
>>> [(e.zone, e.action) for e in mapper.update([box], ts=0.0)]
[('pick', 'entered')]
>>> [(e.zone, e.action) for e in mapper.update([], ts=0.1, lost=[7])]
[('pick', 'lost')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from edge_app.config import ZonesConfig
from edge_app.events import ZONE_NAMES, Zone, ZoneEvent
from edge_app.perception.tracker import Track, TrackKind


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Even-odd rule, one bool per point (points on the boundary may fall either way).

    >>> square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    >>> points_in_polygon(np.array([[5, 5], [15, 5], [-1, 5]]), square).tolist()
    [True, False, False]
    """
    pts = np.asarray(points, np.float64).reshape(-1, 2)
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    x, y = pts[:, 0:1], pts[:, 1:2]
    x1, y1 = poly[:, 0][None, :], poly[:, 1][None, :]
    x2, y2 = np.roll(poly[:, 0], -1)[None, :], np.roll(poly[:, 1], -1)[None, :]
    crosses = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    hits = crosses & (x < x_at)
    return (hits.sum(axis=1) % 2) == 1


@dataclass
class _Membership:
    inside: bool = False
    streak: int = 0  # consecutive frames disagreeing with ``inside``


@dataclass
class _TrackState:
    kind: TrackKind
    label: str
    zones: dict[str, _Membership] = field(default_factory=dict)
    xy: tuple[float, float] | None = None  # last centre, normalised
    seen_ts: float | None = None  # last frame the track was given (not a prediction)


def moving_groups(
    tracks: Sequence[Track], *, group_gap: float = 0.5, min_speed: float = 20.0
) -> dict[int, int]:
    """Group size per item track: items sharing a carrier hand, or close and moving alike.

    Two moving items (centre speed ≥ ``min_speed`` px/s) belong together when
    they share a carrier hand, or when the gap between their boxes is at most
    ``group_gap`` × the smaller box side and their velocities differ by less
    than half the faster speed. Groups are the connected components of that
    relation. Both must move even with one carrier: a hand putting an item
    down is also near the items already standing in the bag. Both must be
    seen in this frame: a box coasting on its prediction beside the new box
    the tracker gave a fast item (a milk swung into the bag) is one item
    twice, not a stack. A shared carrier is no group where the two move
    different ways: an item standing in the bag whose box the hand putting
    another down pushes about. (Each was a false stacking alert; the clips
    are in docs/EVALUATION.md.)
    """
    coasting = {t.track_id: 1 for t in tracks if t.kind == "item" and t.predicted}
    items = [t for t in tracks if t.kind == "item" and not t.predicted]
    n = len(items)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(n):
        for j in range(i + 1, n):
            a, b = items[i], items[j]
            va, vb = np.asarray(a.velocity, float), np.asarray(b.velocity, float)
            sa, sb = float(np.hypot(*va)), float(np.hypot(*vb))
            if sa < min_speed or sb < min_speed:
                continue
            apart = float(np.hypot(*(va - vb)))
            # One hand moves its load one way; the rear box of a stack jitters, so loosely.
            together = (
                a.carried_by is not None and a.carried_by == b.carried_by and apart < max(sa, sb)
            )
            if not together:
                if apart < 0.5 * max(sa, sb):
                    gap_x = max(a.xyxy[0] - b.xyxy[2], b.xyxy[0] - a.xyxy[2], 0)
                    gap_y = max(a.xyxy[1] - b.xyxy[3], b.xyxy[1] - a.xyxy[3], 0)
                    side = min(
                        a.xyxy[2] - a.xyxy[0],
                        a.xyxy[3] - a.xyxy[1],
                        b.xyxy[2] - b.xyxy[0],
                        b.xyxy[3] - b.xyxy[1],
                    )
                    together = max(gap_x, gap_y) <= group_gap * max(side, 1.0)
            if together:
                parent[find(i)] = find(j)
    sizes: dict[int, int] = {}
    for i in range(n):
        sizes[find(i)] = sizes.get(find(i), 0) + 1
    return {**coasting, **{items[i].track_id: sizes[find(i)] for i in range(n)}}


class ZoneMapper:
    """Per-track, per-zone membership with enter/exit hysteresis (pure, no clock of its own)."""

    def __init__(self, zones: ZonesConfig, frame_size: tuple[int, int], *, group_gap: float = 0.5):
        w, h = frame_size
        if w <= 0 or h <= 0:
            raise ValueError(f"frame size must be positive, got {frame_size}")
        self.frame_size = (int(w), int(h))
        self.enter_frames = zones.enter_frames
        self.exit_frames = zones.exit_frames
        self.group_gap = group_gap
        self.polygons: dict[str, np.ndarray] = {}
        for name in ZONE_NAMES:
            pts = getattr(zones, name, None)
            if pts:
                self.polygons[name] = np.asarray(pts, np.float64) * np.array([w, h], np.float64)
        self._state: dict[int, _TrackState] = {}

    def zones_of(self, xy: np.ndarray) -> dict[str, np.ndarray]:
        """Raw (no hysteresis) membership of centre points, per zone."""
        return {name: points_in_polygon(xy, poly) for name, poly in self.polygons.items()}

    def inside(self, track_id: int) -> list[str]:
        """Zones a track is currently (after hysteresis) inside."""
        st = self._state.get(track_id)
        return [z for z, m in st.zones.items() if m.inside] if st else []

    def update(
        self, tracks: Iterable[Track], ts: float, lost: Iterable[int] = ()
    ) -> list[ZoneEvent]:
        tracks = [t for t in tracks if t.confirmed]
        groups = moving_groups(tracks, group_gap=self.group_gap)
        events: list[ZoneEvent] = []
        if tracks:
            centres = np.array([t.center for t in tracks], np.float64)
            raw = self.zones_of(centres)
        for idx in sorted(range(len(tracks)), key=lambda i: tracks[i].track_id):
            t = tracks[idx]
            st = self._state.setdefault(t.track_id, _TrackState(t.kind, t.label))
            st.label = t.label or st.label
            st.xy = self._normalised(t)
            if not t.predicted:
                st.seen_ts = ts
            for zone in self.polygons:
                m = st.zones.setdefault(zone, _Membership())
                now_inside = bool(raw[zone][idx])
                if now_inside == m.inside:
                    m.streak = 0
                    continue
                m.streak += 1
                if m.streak >= (self.enter_frames if now_inside else self.exit_frames):
                    m.inside, m.streak = now_inside, 0
                    events.append(
                        self._event(t, zone, "entered" if now_inside else "exited", ts, groups)
                    )
        for tid in sorted(set(lost)):
            gone = self._state.pop(tid, None)
            if gone is None:
                continue
            where: list[Zone | Literal[""]] = [
                Zone(z) for z, m in gone.zones.items() if m.inside
            ] or [""]
            x, y = gone.xy if gone.xy is not None else (None, None)
            for zone in where:
                events.append(
                    ZoneEvent(
                        ts=ts,
                        track_id=tid,
                        kind=gone.kind,
                        zone=zone,
                        action="lost",
                        label=gone.label,
                        x=x,
                        y=y,
                        seen_ts=gone.seen_ts,
                    )
                )
        return events

    def _normalised(self, t: Track) -> tuple[float, float]:
        cx, cy = t.center
        return (round(float(cx) / self.frame_size[0], 4), round(float(cy) / self.frame_size[1], 4))

    def _event(
        self, t: Track, zone: str, action: str, ts: float, groups: dict[int, int]
    ) -> ZoneEvent:
        is_item = t.kind == "item"
        return ZoneEvent(
            ts=ts,
            track_id=t.track_id,
            kind="item" if is_item else "hand",
            zone=Zone(zone),
            action=action,  # type: ignore[arg-type]
            label=t.label,
            group_size=groups.get(t.track_id, 1) if is_item else 1,
            carrier=t.carried_by if is_item else None,
            x=self._normalised(t)[0],
            y=self._normalised(t)[1],
        )
