"""Zone hysteresis tables: what a sequence of centre positions must emit."""

import dataclasses

import numpy as np
import pytest

from edge_app.config import ZonesConfig
from edge_app.perception.tracker import Track
from edge_app.perception.zones import ZoneMapper, moving_groups, points_in_polygon

W, H = 1000, 500
# pick: left third, scan: middle third, bag: right third (normalised)
ZONES = dict(
    pick=[(0, 0), (1 / 3, 0), (1 / 3, 1), (0, 1)],
    scan=[(1 / 3, 0), (2 / 3, 0), (2 / 3, 1), (1 / 3, 1)],
    bag=[(2 / 3, 0), (1, 0), (1, 1), (2 / 3, 1)],
)
EDGE = W / 3  # pick | scan boundary in pixels


def track(
    tid,
    cx,
    cy=250,
    kind="item",
    confirmed=True,
    carried_by=None,
    velocity=(0, 0),
    size=40,
    predicted=False,
):
    return Track(
        tid,
        np.array([cx - size / 2, cy - size / 2, cx + size / 2, cy + size / 2], np.float32),
        "bottle",
        0.9,
        kind,
        5,
        confirmed,
        carried_by,
        velocity=np.array(velocity, np.float32),
        predicted=predicted,
    )


def run(xs, enter=2, exit_=3, **kw):
    mapper = ZoneMapper(ZonesConfig(**ZONES, enter_frames=enter, exit_frames=exit_), (W, H))
    out = []
    for i, x in enumerate(xs):
        for e in mapper.update([track(1, x, **kw)] if x is not None else [], ts=i * 0.1):
            out.append((i, e.zone, e.action))
    return out


IN, OUT = EDGE - 5, EDGE + 5  # a box centre flickering across the pick/scan edge

TABLE = [
    # (description, centre x per frame, enter_frames, exit_frames, expected (frame, zone, action))
    ("steady in pick", [100] * 4, 2, 3, [(1, "pick", "entered")]),
    ("enter needs enter_frames", [100], 2, 3, []),
    ("enter_frames=1 is immediate", [100], 1, 3, [(0, "pick", "entered")]),
    ("pure flicker on the edge never settles", [IN, OUT] * 6, 2, 3, []),
    (
        "jittery crossing gives one enter and one exit",
        [IN, IN, OUT, IN, OUT, OUT, IN, OUT, OUT, OUT, OUT],
        2,
        3,
        [(1, "pick", "entered"), (5, "scan", "entered"), (9, "pick", "exited")],
    ),
    (
        "flicker after settling in pick",
        [100, 100, IN, OUT, IN, OUT, IN],
        2,
        3,
        [(1, "pick", "entered")],
    ),
    (
        "pick to bag through scan",
        [100, 100, 500, 500, 500, 900, 900, 900],
        2,
        3,
        [
            (1, "pick", "entered"),
            (3, "scan", "entered"),
            (4, "pick", "exited"),
            (6, "bag", "entered"),
            (7, "scan", "exited"),
        ],
    ),
    ("a one-frame excursion is ignored", [100, 100, 500, 100, 100], 2, 3, [(1, "pick", "entered")]),
    (
        "a missing frame does not count as outside",
        [100, 100, None, None, None, None, 100],
        2,
        3,
        [(1, "pick", "entered")],
    ),
]


@pytest.mark.parametrize("desc,xs,enter,exit_,expected", TABLE, ids=[t[0] for t in TABLE])
def test_hysteresis_table(desc, xs, enter, exit_, expected):
    assert run(xs, enter, exit_) == expected


def test_unconfirmed_tracks_are_skipped():
    assert run([100] * 5, confirmed=False) == []


def test_lost_track_emits_lost_per_zone_and_is_pruned():
    mapper = ZoneMapper(ZonesConfig(**ZONES, enter_frames=1), (W, H))
    mapper.update([track(1, 900), track(2, 10_000)], ts=0)  # 2 is outside every zone
    events = mapper.update([], ts=0.5, lost=[1, 2, 99])
    assert [(e.track_id, e.zone, e.action, e.ts) for e in events] == [
        (1, "bag", "lost", 0.5),
        (2, "", "lost", 0.5),
    ]
    assert mapper.inside(1) == [] and mapper.update([], ts=0.6, lost=[1]) == []
    # the id comes back (a new track with a recycled id would start from scratch)
    assert [(e.zone, e.action) for e in mapper.update([track(1, 900)], ts=0.7)] == [
        ("bag", "entered")
    ]


def test_a_lost_track_says_when_it_was_last_seen_not_when_it_was_given_up():
    """The tracker coasts a box on its prediction before giving up; the engine needs the last sighting."""
    mapper = ZoneMapper(ZonesConfig(**ZONES, enter_frames=1), (W, H))
    mapper.update([track(1, 500)], ts=0.0)
    mapper.update([track(1, 500)], ts=0.1)
    for ts in (0.2, 0.3, 0.4):
        mapper.update([dataclasses.replace(track(1, 500), predicted=True)], ts=ts)
    events = mapper.update([], ts=1.1, lost=[1])
    assert [(e.zone, e.action, e.ts, e.seen_ts) for e in events] == [("scan", "lost", 1.1, 0.1)]


def test_hand_events_say_hand_and_items_say_carried():
    mapper = ZoneMapper(ZonesConfig(**ZONES, enter_frames=1), (W, H))
    events = mapper.update(
        [track(1_000_001, 500, kind="hand"), track(3, 500, carried_by=1_000_001)], ts=0
    )
    by_id = {e.track_id: e for e in events}
    assert by_id[1_000_001].kind == "hand" and not by_id[1_000_001].carried
    assert by_id[3].kind == "item" and by_id[3].carried


def test_normalised_polygons_scale_to_the_frame():
    mapper = ZoneMapper(ZonesConfig(**ZONES), (W, H))
    raw = mapper.zones_of(np.array([[100, 250], [500, 250], [900, 499]]))
    assert raw["pick"].tolist() == [True, False, False]
    assert raw["scan"].tolist() == [False, True, False]
    assert raw["bag"].tolist() == [False, False, True]


@pytest.mark.parametrize(
    "point,inside",
    [
        ((2, 2), True),
        ((2, 8), True),
        ((8, 2), True),
        ((8, 8), False),
        ((15, 5), False),
        ((-1, 5), False),
    ],
)
def test_points_in_a_concave_polygon(point, inside):
    # an L shape: the square 0..10 minus the top-right quarter 5..10 x 5..10
    poly = np.array([[0, 0], [10, 0], [10, 5], [5, 5], [5, 10], [0, 10]], float)
    assert points_in_polygon(np.array([point]), poly).tolist() == [inside]


GROUPS = [
    # (description, tracks, expected group size of track 1)
    ("alone", [track(1, 100, velocity=(200, 0))], 1),
    (
        "two stacked moving alike",
        [track(1, 100, velocity=(200, 0)), track(2, 100, 290, velocity=(210, 5))],
        2,
    ),
    (
        "side by side but one still",
        [track(1, 100, velocity=(200, 0)), track(2, 140, velocity=(0, 0))],
        1,
    ),
    (
        "close but opposite directions",
        [track(1, 100, velocity=(200, 0)), track(2, 140, velocity=(-200, 0))],
        1,
    ),
    (
        "far apart, same motion",
        [track(1, 100, velocity=(200, 0)), track(2, 600, velocity=(200, 0))],
        1,
    ),
    (
        "same carrier hand",
        [
            track(1, 100, carried_by=7, velocity=(200, 0)),
            track(2, 600, carried_by=7, velocity=(150, 20)),
        ],
        2,
    ),
    # kset12 normal-141414-013: a carton standing in the bag, its box pushed about by the hand
    # setting another carton down beside it, is no stack with it
    (
        "same carrier hand, moving different ways",
        [
            track(1, 100, carried_by=7, velocity=(118, -56)),
            track(2, 140, carried_by=7, velocity=(-28, 51)),
        ],
        1,
    ),
    (
        "the hand puts one down by one standing in the bag",
        [
            track(1, 100, carried_by=7, velocity=(200, 0)),
            track(2, 130, carried_by=7, velocity=(0, 0)),
        ],
        1,
    ),
    # kset10 normal-121212-057: the tracker lost a fast milk and gave it a new box;
    # the old one coasts beside it
    (
        "a coasting box beside the new box of one item",
        [track(1, 100, velocity=(400, -100), predicted=True), track(2, 140, velocity=(380, -120))],
        1,
    ),
    (
        "chain of three",
        [
            track(1, 100, velocity=(200, 0)),
            track(2, 145, velocity=(200, 0)),
            track(3, 190, velocity=(200, 0)),
        ],
        3,
    ),
]


@pytest.mark.parametrize("desc,tracks,size", GROUPS, ids=[g[0] for g in GROUPS])
def test_moving_groups(desc, tracks, size):
    assert moving_groups(tracks)[1] == size


def test_group_size_lands_in_the_zone_event():
    mapper = ZoneMapper(ZonesConfig(**ZONES, enter_frames=1), (W, H))
    events = mapper.update(
        [track(1, 500, velocity=(300, 0)), track(2, 500, 295, velocity=(300, 0))], ts=0
    )
    assert [(e.track_id, e.group_size) for e in events] == [(1, 2), (2, 2)]
