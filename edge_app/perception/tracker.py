"""Tracking items and hands across frames: a compact ByteTrack, plus who carries what.

Why our own: the maintained libraries do not fit the kiosk runtime (see
docs/MODELS.md, "Tracker"): roboflow ``trackers`` pulls opencv-python (libGL,
clashes with the headless wheel), supervision, matplotlib and av; norfair
pins numpy<2. ByteTrack itself is small: a constant-velocity Kalman filter
per track and two IoU associations solved with the Hungarian method, first
with the confident detections, then with the weak ones (a partly hidden item
in a hand scores low, and is exactly the one we must not lose).

Pure: time is an argument (``ts`` seconds, the lane's monotonic clock).

>>> from edge_app.perception.detections import Detections
>>> trk = Tracker(min_hits=2)
>>> for i in range(3):
...     bottle = Detections([[10 + 5 * i, 10, 50 + 5 * i, 60]], [0.9], [0], ("bottle",))
...     tracks = trk.update(bottle, ts=i / 15)
>>> [(t.track_id, t.label, t.hits, t.confirmed) for t in tracks]
[(1, 'bottle', 3, True)]
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge_app.perception.boxes import box_iou
from edge_app.perception.detections import Detections

TrackKind = Literal["item", "hand"]

#: first track id per kind: item and hand trackers share one ZoneMapper and one
#: ``lost`` list, so their ids must never collide (and stay deterministic on replay)
ID_BASE = {"item": 0, "hand": 1_000_000}


@dataclass
class Track:
    """One tracked object as the zone stage sees it (image pixels)."""

    track_id: int
    xyxy: np.ndarray
    label: str
    score: float
    kind: TrackKind
    hits: int
    confirmed: bool
    carried_by: int | None = None  # hand track id carrying this item
    #: centre velocity in px/s (Kalman estimate), for "moving together"
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2, np.float32))
    #: True while the track is coasting on its prediction (not detected this frame)
    predicted: bool = False
    #: hand points (K, 3) of the last matched detection (hand tracks), else None
    points: np.ndarray | None = None

    @property
    def center(self) -> np.ndarray:
        return np.array(
            [(self.xyxy[0] + self.xyxy[2]) / 2, (self.xyxy[1] + self.xyxy[3]) / 2], np.float32
        )


# --------------------------------------------------------------------------
# Kalman filter on (cx, cy, aspect, h) and their velocities, as in ByteTrack
# --------------------------------------------------------------------------

_STD_POS = 1.0 / 20
_STD_VEL = 1.0 / 160


def _xyxy_to_xyah(b: np.ndarray) -> np.ndarray:
    w, h = b[2] - b[0], b[3] - b[1]
    return np.array([b[0] + w / 2, b[1] + h / 2, w / max(h, 1e-6), h], np.float64)


def _xyah_to_xyxy(m: np.ndarray) -> np.ndarray:
    h = max(m[3], 1e-6)
    w = m[2] * h
    return np.array([m[0] - w / 2, m[1] - h / 2, m[0] + w / 2, m[1] + h / 2], np.float32)


class _Kalman:
    """Constant-velocity Kalman filter; time in frames of the nominal frame period."""

    def __init__(self, box: np.ndarray):
        z = _xyxy_to_xyah(box)
        self.mean = np.r_[z, np.zeros(4)]
        h = z[3]
        std = [
            2 * _STD_POS * h,
            2 * _STD_POS * h,
            1e-2,
            2 * _STD_POS * h,
            10 * _STD_VEL * h,
            10 * _STD_VEL * h,
            1e-5,
            10 * _STD_VEL * h,
        ]
        self.cov = np.diag(np.square(std))

    def predict(self, dt: float) -> None:
        f = np.eye(8)
        f[:4, 4:] = np.eye(4) * dt
        h = self.mean[3]
        std = [
            _STD_POS * h,
            _STD_POS * h,
            1e-2,
            _STD_POS * h,
            _STD_VEL * h,
            _STD_VEL * h,
            1e-5,
            _STD_VEL * h,
        ]
        q = np.diag(np.square(std)) * max(dt, 1e-3)
        self.mean = f @ self.mean
        self.cov = f @ self.cov @ f.T + q

    def update(self, box: np.ndarray) -> None:
        z = _xyxy_to_xyah(box)
        h = self.mean[3]
        r = np.diag(np.square([_STD_POS * h, _STD_POS * h, 1e-1, _STD_POS * h]))
        hm = np.eye(4, 8)
        s = hm @ self.cov @ hm.T + r
        k = np.linalg.solve(s, hm @ self.cov).T
        self.mean = self.mean + k @ (z - hm @ self.mean)
        self.cov = (np.eye(8) - k @ hm) @ self.cov

    @property
    def box(self) -> np.ndarray:
        return _xyah_to_xyxy(self.mean)


@dataclass
class _State:
    track_id: int
    kf: _Kalman
    score: float
    hits: int = 1
    confirmed: bool = False
    ever_confirmed: bool = False
    last_seen: float = 0.0
    lost: bool = False
    label_votes: dict = field(default_factory=lambda: defaultdict(float))
    points: np.ndarray | None = None

    @property
    def label(self) -> str:
        return max(self.label_votes.items(), key=lambda kv: kv[1])[0] if self.label_votes else ""


def _match(cost: np.ndarray, max_cost: float) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Hungarian assignment, pairs above ``max_cost`` rejected; returns pairs and leftovers."""
    if cost.size == 0:
        return [], list(range(cost.shape[0])), list(range(cost.shape[1]))
    rows, cols = linear_sum_assignment(cost)
    pairs = [(r, c) for r, c in zip(rows, cols, strict=True) if cost[r, c] <= max_cost]
    mr = {r for r, _ in pairs}
    mc = {c for _, c in pairs}
    return (
        pairs,
        [r for r in range(cost.shape[0]) if r not in mr],
        [c for c in range(cost.shape[1]) if c not in mc],
    )


class Tracker:
    """ByteTrack for one kind of object (``item`` or ``hand``).

    ``update`` returns the confirmed tracks seen this frame, plus tracks that
    were missed for at most ``coast_s`` (predicted boxes, ``predicted=True``).
    A track missed for longer than ``max_lost_s`` is dropped; its id is then
    reported once by :meth:`lost_since_last_update` (confirmed tracks only:
    the zone stage never saw the others). Item ids start at 1, hand ids at
    1_000_001 (``ID_BASE``), so both kinds can go through one ZoneMapper.
    """

    def __init__(
        self,
        *,
        kind: TrackKind = "item",
        high_thresh: float = 0.5,
        low_thresh: float = 0.1,
        match_iou: float = 0.3,
        max_lost_s: float = 1.0,
        min_hits: int = 3,
        coast_s: float = 0.25,
        frame_s: float = 1 / 15,
        id_base: int | None = None,
        label_half_life_s: float = 0.0,
    ):
        if not 0 <= low_thresh <= high_thresh <= 1:
            raise ValueError(
                f"need 0 <= low_thresh ({low_thresh}) <= high_thresh ({high_thresh}) <= 1"
            )
        self.kind = kind
        self.high_thresh, self.low_thresh = high_thresh, low_thresh
        self.match_iou = match_iou
        #: votes for a label fade by half in this time (0: a track's label is its lifetime's vote)
        self.label_half_life_s = label_half_life_s
        self.max_lost_s, self.min_hits, self.coast_s = max_lost_s, min_hits, coast_s
        self._frame_s = frame_s  # nominal frame period; refined from the timestamps seen
        self._tracks: list[_State] = []
        self._next_id = 1 + (ID_BASE.get(kind, 0) if id_base is None else id_base)
        self._last_ts: float | None = None
        self._lost_ids: list[int] = []

    def lost_since_last_update(self) -> list[int]:
        """Ids of confirmed tracks dropped by the last ``update``."""
        return list(self._lost_ids)

    def _new_track(self, box: np.ndarray, score: float, label: str, pts, ts: float) -> None:
        st = _State(self._next_id, _Kalman(box), score, last_seen=ts, points=pts)
        st.label_votes[label] += score
        st.confirmed = st.ever_confirmed = self.min_hits <= 1
        self._next_id += 1
        self._tracks.append(st)

    def _apply(self, st: _State, box: np.ndarray, score: float, label: str, pts, ts: float) -> None:
        st.kf.update(box)
        st.score = score
        st.hits += 1
        if self.label_half_life_s and ts > st.last_seen:
            fade = 0.5 ** ((ts - st.last_seen) / self.label_half_life_s)
            for k in st.label_votes:
                st.label_votes[k] *= fade
        st.last_seen = ts
        st.lost = False
        st.points = pts
        st.label_votes[label] += score
        if st.hits >= self.min_hits:
            st.confirmed = st.ever_confirmed = True

    def _predict_all(self, ts: float) -> None:
        dt_s = 0.0 if self._last_ts is None else max(ts - self._last_ts, 0.0)
        if dt_s > 0:  # track the real frame period so the filter's noise model stays per-frame
            self._frame_s = 0.9 * self._frame_s + 0.1 * min(dt_s, 1.0)
        self._last_ts = ts
        dt = dt_s / self._frame_s if self._frame_s > 0 else 1.0
        for st in self._tracks:
            st.kf.predict(dt)

    def update(self, dets: Detections, ts: float) -> list[Track]:
        self._lost_ids = []
        self._predict_all(ts)
        labels = dets.labels()
        high = np.flatnonzero(dets.score >= self.high_thresh)
        low = np.flatnonzero((dets.score >= self.low_thresh) & (dets.score < self.high_thresh))
        kp = dets.keypoints

        def det(i: int) -> tuple[np.ndarray, float, str, np.ndarray | None]:
            return dets.xyxy[i], float(dets.score[i]), labels[i], None if kp is None else kp[i]

        pool = [st for st in self._tracks if st.confirmed or st.lost]  # established tracks
        fresh = [st for st in self._tracks if not st.confirmed and not st.lost]
        pred_pool = np.array([st.kf.box for st in pool]).reshape(-1, 4)

        # 1) confident detections vs established tracks (IoU fused with score, as ByteTrack)
        iou = box_iou(pred_pool, dets.xyxy[high])
        cost = 1 - iou * dets.score[high][None, :] if iou.size else iou
        cost = np.where(iou >= self.match_iou, cost, 1e6) if iou.size else cost
        pairs, left_tracks, left_high = _match(cost, 1e5)
        for r, c in pairs:
            self._apply(pool[r], *det(high[c]), ts)
        # 2) weak detections vs the established tracks still unmatched and not already lost
        remaining = [pool[r] for r in left_tracks if not pool[r].lost]
        iou2 = box_iou(np.array([st.kf.box for st in remaining]).reshape(-1, 4), dets.xyxy[low])
        pairs2, left2, _ = _match(1 - iou2, 1 - max(self.match_iou, 0.5))
        for r, c in pairs2:
            self._apply(remaining[r], *det(low[c]), ts)
        for r in left2:
            remaining[r].lost = True
        # 3) remaining confident detections vs tentative tracks
        left_high_idx = high[left_high] if len(high) else high
        iou3 = box_iou(
            np.array([st.kf.box for st in fresh]).reshape(-1, 4), dets.xyxy[left_high_idx]
        )
        pairs3, left3, left_new = _match(1 - iou3, 1 - self.match_iou)
        for r, c in pairs3:
            self._apply(fresh[r], *det(left_high_idx[c]), ts)
        dead = {id(fresh[r]) for r in left3}  # a tentative track missed once is noise (ByteTrack)
        # 4) births from the confident leftovers
        for c in left_new:
            self._new_track(*det(left_high_idx[c]), ts)
        # 5) drop tracks lost for too long
        kept = []
        for st in self._tracks:
            if id(st) in dead:
                continue
            if st.lost and ts - st.last_seen > self.max_lost_s:
                if st.ever_confirmed:
                    self._lost_ids.append(st.track_id)
                continue
            kept.append(st)
        self._tracks = kept
        return [self._public(st, ts) for st in self._tracks if self._visible(st, ts)]

    def _visible(self, st: _State, ts: float) -> bool:
        if not st.confirmed:
            return False
        return not st.lost or ts - st.last_seen <= self.coast_s

    def _public(self, st: _State, ts: float) -> Track:
        v = st.kf.mean[4:6] / self._frame_s if self._frame_s > 0 else st.kf.mean[4:6]
        return Track(
            track_id=st.track_id,
            xyxy=st.kf.box,
            label=st.label,
            score=st.score,
            kind=self.kind,
            hits=st.hits,
            confirmed=st.confirmed,
            velocity=v.astype(np.float32),
            predicted=st.last_seen != ts,
            points=st.points,
        )


# --------------------------------------------------------------------------
# Which hand carries which item
# --------------------------------------------------------------------------


def hand_item_distance(item_xyxy: np.ndarray, hand: Track) -> float:
    """Distance from the nearest hand point to the item box, in item-box diagonals (0 inside)."""
    pts = hand.points
    if pts is not None and len(pts):
        xy = pts[pts[:, 2] > 0, :2] if (pts[:, 2] > 0).any() else pts[:, :2]
    else:
        xy = hand.center[None, :]
    x1, y1, x2, y2 = item_xyxy
    dx = np.maximum(np.maximum(x1 - xy[:, 0], 0), xy[:, 0] - x2)
    dy = np.maximum(np.maximum(y1 - xy[:, 1], 0), xy[:, 1] - y2)
    diag = max(float(np.hypot(x2 - x1, y2 - y1)), 1.0)
    return float(np.min(np.hypot(dx, dy))) / diag


class CarryAssociator:
    """Decides, over several frames, which hand track carries which item track.

    A hand becomes the carrier after ``hold_frames`` consecutive frames with a
    hand point inside or within ``near`` box-diagonals of the item box; it
    stops being the carrier after ``release_frames`` frames away. One frame
    of a hand passing over an item does not make it "carried".
    """

    def __init__(self, *, near: float = 0.15, hold_frames: int = 2, release_frames: int = 3):
        self.near, self.hold_frames, self.release_frames = near, hold_frames, release_frames
        self._streak: dict[tuple[int, int], int] = {}
        self._carrier: dict[int, int] = {}
        self._away: dict[int, int] = {}

    def update(self, items: Sequence[Track], hands: Sequence[Track]) -> list[Track]:
        """Items with ``carried_by`` set (same objects, updated in place, also returned)."""
        live_items = {t.track_id for t in items}
        live_hands = {h.track_id for h in hands}
        streak: dict[tuple[int, int], int] = {}
        for item in items:
            best: tuple[float, int] | None = None
            for hand in hands:
                d = hand_item_distance(item.xyxy, hand)
                if d <= self.near:
                    key = (item.track_id, hand.track_id)
                    streak[key] = self._streak.get(key, 0) + 1
                    if streak[key] >= self.hold_frames and (best is None or d < best[0]):
                        best = (d, hand.track_id)
            current = self._carrier.get(item.track_id)
            if best is not None:
                if (
                    current is None
                    or current not in live_hands
                    or (item.track_id, current) not in streak
                ):
                    self._carrier[item.track_id] = best[1]
                self._away[item.track_id] = 0
            elif current is not None:
                if (item.track_id, current) in streak:
                    self._away[item.track_id] = 0
                else:
                    self._away[item.track_id] = self._away.get(item.track_id, 0) + 1
                    if self._away[item.track_id] >= self.release_frames:
                        del self._carrier[item.track_id]
            item.carried_by = self._carrier.get(item.track_id)
        self._streak = streak
        for tid in list(self._carrier):
            if tid not in live_items:
                del self._carrier[tid]
        for tid in list(self._away):  # also those whose carrier was released: bounded for weeks
            if tid not in live_items:
                del self._away[tid]
        return list(items)
