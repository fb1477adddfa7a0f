"""The topic tree and its contract table."""

from __future__ import annotations

import pytest

from edge_app.store_link.topics import CONTRACT, RULES, LaneTopics, fleet_filter, parse_topic

T = LaneTopics("checkout/v1", "store-042", "lane-03")


@pytest.mark.parametrize(
    "topic, expected",
    [
        (T.availability, "checkout/v1/store-042/lane-03/availability"),
        (T.state, "checkout/v1/store-042/lane-03/state"),
        (T.status("camera"), "checkout/v1/store-042/lane-03/status/camera"),
        (T.events, "checkout/v1/store-042/lane-03/events"),
        (T.stats, "checkout/v1/store-042/lane-03/stats"),
        (T.request("item/add"), "checkout/v1/store-042/lane-03/request/item/add"),
        (T.response("item/add"), "checkout/v1/store-042/lane-03/response/item/add"),
        (T.light, "checkout/v1/store-042/lane-03/light"),
        (T.requests_filter, "checkout/v1/store-042/lane-03/request/#"),
    ],
)
def test_lane_topics(topic, expected):
    assert topic == expected


def test_contract_table_matches_the_architecture():
    table = {r.name: (r.retained, r.qos) for r in CONTRACT}
    assert table == {
        "availability": (True, 1),
        "state": (True, 1),
        "status": (True, 1),
        "events": (False, 1),
        "stats": (False, 0),
        "light": (True, 1),
        "request": (False, 1),
        "response": (False, 1),
    }


@pytest.mark.parametrize("bad", ["", "lane/03", "lane+", "#", "a" * 65, "lane 3"])
def test_ids_that_would_escape_a_lane_are_refused(bad):
    with pytest.raises(ValueError):
        LaneTopics("checkout/v1", "store-042", bad)
    if "/" not in bad:  # components may have levels (scanner/flatbed), ids may not
        with pytest.raises(ValueError):
            T.status(bad)


@pytest.mark.parametrize("suffix", ["../events", "light/#", "+", "a//b", ""])
def test_own_refuses_suffixes_with_wildcards_or_empty_levels(suffix):
    with pytest.raises(ValueError):
        T.own(suffix)


def test_command_of_only_reads_this_lanes_requests():
    assert T.command_of(T.request("transaction/start")) == "transaction/start"
    assert T.command_of("checkout/v1/store-042/lane-04/request/snapshot") is None
    assert T.command_of(T.base + "/request/") is None


def test_parse_topic_and_fleet_filter():
    assert fleet_filter() == "checkout/v1/+/+/#"
    assert fleet_filter("checkout/v1", "store-042") == "checkout/v1/store-042/+/#"
    p = parse_topic("checkout/v1", T.status("scanner/flatbed"))
    assert (p.store_id, p.lane_id, p.name, p.rest) == (
        "store-042",
        "lane-03",
        "status",
        "scanner/flatbed",
    )
    assert parse_topic("checkout/v1", T.events).name == "events"
    assert parse_topic("checkout/v1", T.base + "/events/extra") is None
    assert parse_topic("checkout/v1", T.base + "/status") is None
    assert parse_topic("checkout/v1", "other/x/y/events") is None
    assert parse_topic("checkout/v1", T.base + "/bogus") is None
    assert parse_topic("checkout/v1", T.base + "/light/tower").name == "light"
    assert set(RULES) == {r.name for r in CONTRACT}
