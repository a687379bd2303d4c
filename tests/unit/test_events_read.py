"""What the runner counts of the change events it reads: every one read, and those the source could not decode
(rejected: dead-lettered before applying, apart from the items the target refused) - what the worker exports
as graphsync_events_total."""

from __future__ import annotations

from graphsync.change import Change, Operation
from graphsync.runner.contracts import Batch, Rejection
from tests.unit.test_runner import ListSource, MemoryDeadLetters, MemorySink, changes, run


class Undecodable(ListSource):
    """Hands over, with its first batch, two records it could not decode."""

    def __init__(self, good: list[Change], size: int) -> None:
        super().__init__(good, size)
        self.garbled = [
            Rejection(Change(entity="e", key=100 + i, op=Operation.UPSERT, version=0), "version: not a number")
            for i in range(2)
        ]

    def read(self, limit: int) -> Batch:
        batch = super().read(limit)
        if self.garbled and batch.changes:
            batch, self.garbled = Batch(changes=batch.changes, rejected=self.garbled), []
        return batch


def test_events_read_count_the_rejected_ones_and_rejected_only_those_the_source_could_not_decode() -> None:
    dead = MemoryDeadLetters()
    source, sink = Undecodable(changes(20), 10), MemorySink(poison=frozenset({5}))
    runner = run(source, sink, dead)
    assert runner.stats.read == 22
    assert runner.stats.rejected == 2
    # The target refused one more: failed, yet decoded, so not rejected.
    assert runner.stats.failed == 3
    assert sorted(r.change.key for r in dead.records) == [5, 100, 101]
    assert runner.stats.summary()["rejected"] == 2
