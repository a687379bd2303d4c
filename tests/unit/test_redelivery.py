"""When the relay may publish again an event it published long ago and never saw completed (pure)."""

from __future__ import annotations

from graphsync.connectors.redis.streams import group_drained


def test_a_group_that_read_and_acknowledged_everything_is_drained() -> None:
    assert group_drained({"name": "g", "pending": 0, "lag": 0})


def test_a_consumer_holding_entries_is_not_drained() -> None:
    # A target outage: the consumer read the entries and cannot acknowledge them; they are all still there.
    assert not group_drained({"name": "g", "pending": 250, "lag": 0})


def test_a_consumer_behind_is_not_drained() -> None:
    assert not group_drained({"name": "g", "pending": 0, "lag": 10_000})


def test_a_group_redis_lost_or_cannot_measure_counts_as_drained() -> None:
    # Nothing to wait for: what it had may be lost, so the stale events go out again.
    assert group_drained(None)
    assert group_drained({"name": "g", "pending": 0, "lag": None})
