"""The stream transport's consumer side: a dead consumer's work is taken over, a live one's is not."""

from __future__ import annotations

import time

import redis

from graphsync.change import Change, Operation
from graphsync.connectors.redis import streams
from tests.conftest import unique_name


def changes(count: int) -> list[Change]:
    return [Change(entity="person", key=i, op=Operation.UPSERT, version=1, data={"id": i}) for i in range(count)]


def test_idle_entries_of_another_consumer_are_claimed_but_a_readers_own_never_are(redis_client: redis.Redis) -> None:
    target = streams.Streams(prefix=unique_name("claims"), partitions=2)
    group = unique_name("group")
    alice = streams.GroupReader(redis_client, target, group=group, consumer="alice", claim_idle_ms=300)
    bob = streams.GroupReader(redis_client, target, group=group, consumer="bob", claim_idle_ms=300)
    alice.ensure_groups()
    streams.publish(redis_client, target, changes(6), max_length=1000)
    taken_by_alice = alice.read(4, block_ms=10)
    assert len(taken_by_alice) == 4

    taken_by_bob = bob.read(10, block_ms=10)
    assert len(taken_by_bob) == 2  # alice's entries are not idle yet: bob gets only the untaken two
    time.sleep(0.4)
    # Now alice counts as dead; bob's own unacknowledged entries are as idle, but stay his alone.
    claimed = bob.read(10, block_ms=10)
    assert sorted(d.entry_id for d in claimed) == sorted(d.entry_id for d in taken_by_alice)
    bob.ack(taken_by_bob + claimed)
    assert bob.read(10, block_ms=10) == []
    for name in target.names():
        assert redis_client.xpending(name, group)["pending"] == 0
    redis_client.delete(*target.names())
