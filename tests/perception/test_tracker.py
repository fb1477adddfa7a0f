"""ByteTrack on synthetic sequences: ids survive crossings, occlusions and weak frames."""

import numpy as np
import pytest

from edge_app.perception.detections import Detections
from edge_app.perception.tracker import CarryAssociator, Track, Tracker, hand_item_distance

NAMES = ("bottle", "apple")
FPS = 15.0


def frame(boxes, scores=None, classes=None) -> Detections:
    n = len(boxes)
    return Detections(
        np.array(boxes, np.float32).reshape(-1, 4),
        np.array(scores if scores is not None else [0.9] * n, np.float32),
        np.array(classes if classes is not None else [0] * n, np.int32),
        NAMES,
    )


def box_at(cx, cy, w=60, h=80):
    return [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]


def ids_by_side(tracks):
    return {("left" if t.center[0] < 320 else "right"): t.track_id for t in tracks}


@pytest.mark.parametrize("dy", [0, 20, 60])
def test_two_items_crossing_paths_keep_their_ids(dy):
    """A moves right, B moves left, at the same height (dy=0) or slightly apart; they overlap mid-way."""
    trk = Tracker(min_hits=3)
    first = last = None
    for i in range(40):
        xa, xb = 100 + 12 * i, 580 - 12 * i
        tracks = trk.update(
            frame([box_at(xa, 240), box_at(xb, 240 + dy)], classes=[0, 1]), ts=i / FPS
        )
        if i == 5:
            first = {t.label: t.track_id for t in tracks}
    last = {t.label: t.track_id for t in tracks}
    assert len(first) == 2
    assert last == first, "a crossing swapped or replaced the ids"
    a = next(t for t in tracks if t.label == "bottle")
    assert a.center[0] > 500 and a.velocity[0] > 0  # moved to the right, and the filter knows it


def test_occlusion_gap_keeps_the_id_and_reports_nothing_lost():
    trk = Tracker(min_hits=3, max_lost_s=1.0)
    tid = None
    for i in range(30):
        hidden = 10 <= i < 16  # 6 frames (0.4 s) behind the shopper's arm
        dets = frame([] if hidden else [box_at(100 + 8 * i, 200)])
        tracks = trk.update(dets, ts=i / FPS)
        assert trk.lost_since_last_update() == []
        if i == 9:
            [t] = tracks
            tid = t.track_id
        if i >= 16:
            assert [t.track_id for t in tracks] == [tid]


def test_coasting_then_lost_after_max_lost_s():
    trk = Tracker(min_hits=2, max_lost_s=0.5, coast_s=0.2)
    for i in range(5):
        trk.update(frame([box_at(300, 200)]), ts=i / FPS)
    seen, lost_at = [], None
    for i in range(5, 30):
        tracks = trk.update(frame([]), ts=i / FPS)
        seen.append(len(tracks))
        if trk.lost_since_last_update():
            assert trk.lost_since_last_update() == [1]
            lost_at = i / FPS - 4 / FPS
            break
    assert seen[0] == 1 and all(s == 0 for s in seen[4:])  # coasts briefly, then hidden
    assert lost_at == pytest.approx(0.5 + 1 / FPS, abs=1 / FPS + 1e-9)


def test_low_score_frames_keep_the_track_but_do_not_start_one():
    trk = Tracker(min_hits=2, high_thresh=0.5, low_thresh=0.1)
    for i in range(3):
        tracks = trk.update(frame([box_at(200 + 5 * i, 200)]), ts=i / FPS)
    [t] = tracks
    for i in range(3, 10):  # the item turns in the hand: detector drops to 0.2
        tracks = trk.update(frame([box_at(200 + 5 * i, 200)], scores=[0.2]), ts=i / FPS)
        assert [x.track_id for x in tracks] == [t.track_id] and not tracks[0].predicted
    fresh = Tracker(min_hits=1)
    assert fresh.update(frame([box_at(100, 100)], scores=[0.2]), ts=0) == []


def test_unconfirmed_tracks_are_hidden_and_noise_never_reported_lost():
    trk = Tracker(min_hits=3, max_lost_s=0.1)
    assert trk.update(frame([box_at(100, 100)]), ts=0.0) == []
    assert trk.update(frame([box_at(102, 100)]), ts=0.1) == []
    assert len(trk.update(frame([box_at(104, 100)]), ts=0.2)) == 1
    blip = Tracker(min_hits=3, max_lost_s=0.1)
    blip.update(frame([box_at(100, 100)]), ts=0.0)
    for k in range(1, 5):
        blip.update(frame([]), ts=k * 0.1)
        assert blip.lost_since_last_update() == []


def test_label_is_a_vote_not_the_last_frame():
    trk = Tracker(min_hits=1)
    classes = [0, 0, 0, 1, 0, 0, 1, 0]
    for i, c in enumerate(classes):
        [t] = trk.update(frame([box_at(200, 200)], classes=[c]), ts=i / FPS)
    assert t.label == "bottle"


@pytest.mark.parametrize("half_life_s, expected", [(0.0, "bottle"), (0.5, "apple")])
def test_a_faded_label_says_what_the_item_looks_like_now(half_life_s, expected):
    """Three seconds half hidden in the basket as "bottle",
    then 1.3 s in the hand (over the glass) as "apple"."""
    trk = Tracker(min_hits=1, label_half_life_s=half_life_s)
    classes = [0] * 45 + [1] * 20
    for i, c in enumerate(classes):
        [t] = trk.update(frame([box_at(200, 200)], classes=[c]), ts=i / FPS)
    assert t.label == expected
    # one frame of the other label does not flip a faded vote either
    [t] = trk.update(frame([box_at(200, 200)], classes=[0]), ts=len(classes) / FPS)
    assert t.label == expected


def test_irregular_timestamps_still_track():
    trk = Tracker(min_hits=2)
    ts, ids = 0.0, set()
    rng = np.random.default_rng(3)
    for _ in range(30):
        ts += float(rng.uniform(0.03, 0.15))
        tracks = trk.update(frame([box_at(100 + 150 * ts, 200)]), ts=ts)
        ids |= {t.track_id for t in tracks}
    assert ids == {1}


def hand(track_id, xy, kind="hand"):
    x, y = xy
    return Track(
        track_id,
        np.array([x - 20, y - 20, x + 20, y + 20], np.float32),
        "hand",
        0.9,
        kind,
        5,
        True,
        points=np.array([[x, y, 1.0]], np.float32),
    )


def item(track_id, box):
    return Track(track_id, np.array(box, np.float32), "bottle", 0.9, "item", 5, True)


def test_hand_distance_is_zero_inside_and_in_box_diagonals_outside():
    it = item(1, [0, 0, 30, 40])  # diagonal 50
    assert hand_item_distance(it.xyxy, hand(9, (10, 10))) == 0
    assert hand_item_distance(it.xyxy, hand(9, (55, 40))) == pytest.approx(0.5)


def test_carrier_needs_several_frames_and_is_released_after_several():
    assoc = CarryAssociator(near=0.15, hold_frames=2, release_frames=3)
    bottle = [0, 0, 60, 80]
    seq = [(30, 70)] * 4 + [(400, 400)] * 4  # holds it 4 frames, then the hand leaves
    carried = []
    for xy in seq:
        [it] = assoc.update([item(1, bottle)], [hand(7, xy)])
        carried.append(it.carried_by)
    assert carried == [None, 7, 7, 7, 7, 7, None, None]


def test_the_association_forgets_items_that_are_gone():
    """A released carry left its count behind for every item ever carried (the soak's RSS)."""
    assoc = CarryAssociator(near=0.15, hold_frames=2, release_frames=3)
    for tid in range(1, 50):
        for xy in [(30, 70)] * 3 + [(400, 400)] * 4:
            assoc.update([item(tid, [0, 0, 60, 80])], [hand(7, xy)])
    assoc.update([], [])
    assert not assoc._carrier and not assoc._away


def test_a_hand_passing_over_for_one_frame_does_not_carry():
    assoc = CarryAssociator(hold_frames=2)
    for xy in [(400, 400), (30, 40), (400, 400), (400, 400)]:
        [it] = assoc.update([item(1, [0, 0, 60, 80])], [hand(7, xy)])
        assert it.carried_by is None


def test_the_nearest_of_two_hands_carries():
    assoc = CarryAssociator(near=0.3)
    for _ in range(3):
        [it] = assoc.update(
            [item(1, [100, 100, 160, 180])], [hand(7, (170, 140)), hand(8, (130, 140))]
        )
    assert it.carried_by == 8


def test_item_and_hand_ids_never_collide():
    items, hands = Tracker(kind="item", min_hits=1), Tracker(kind="hand", min_hits=1)
    [i] = items.update(frame([box_at(100, 100)]), ts=0)
    [h] = hands.update(frame([box_at(100, 100)]), ts=0)
    assert i.track_id != h.track_id and (i.kind, h.kind) == ("item", "hand")
