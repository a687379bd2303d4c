"""The pipeline loop with in-memory connectors: ordering of apply and checkpoint, retries, poison isolation."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import replace
from typing import Any

import neo4j.exceptions
import pytest

from graphsync.change import ApplyResult, Change, Operation
from graphsync.connectors.neo4j.sink import transient as neo4j_transient
from graphsync.runner.contracts import Batch, Rejection
from graphsync.runner.loop import Runner, RunOptions
from graphsync.runner.retry import Backoff


class Flaky(Exception):
    """Stands for an outage: transient."""


class ListSource:
    def __init__(self, changes: list[Change], size: int) -> None:
        self.pending = [changes[i : i + size] for i in range(0, len(changes), size)]
        self.committed: list[tuple[list[Change], list[Rejection]]] = []
        self.log: list[str]

    def prepare(self) -> None:
        pass

    def read(self, limit: int) -> Batch:
        if not self.pending:
            return Batch(changes=[])
        return Batch(changes=self.pending.pop(0))

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        self.log.append(f"commit {len(batch.changes)}")
        self.committed.append((batch.changes, list(failed)))

    def close(self) -> None:
        pass


class MemorySink:
    def __init__(self, *, outages: int = 0, poison: frozenset[int] = frozenset(), refusals: int = 0) -> None:
        self.state: dict[int, int] = {}
        self.outages = outages
        # Writes refused as a whole (read-only, out of memory) with an error no driver calls transient.
        self.refusals = refusals
        self.poison = poison
        self.log: list[str] = []

    def prepare(self) -> None:
        pass

    def stage(self, changes: Sequence[Change]) -> None:
        return None

    def apply(self, changes: Sequence[Change], staged: object = None) -> ApplyResult:
        if self.outages:
            self.outages -= 1
            raise Flaky("target unreachable")
        if self.refusals:
            self.refusals -= 1
            raise ValueError("cannot execute in a read-only transaction")
        bad = [c.key for c in changes if c.key in self.poison]
        if bad:
            raise ValueError(f"cannot store {bad}")
        created = 0
        for change in changes:
            if self.state.get(change.key, -1) < change.version:
                created += change.key not in self.state
                self.state[change.key] = change.version
        self.log.append(f"apply {len(changes)}")
        return ApplyResult(created=created)

    def is_transient(self, error: BaseException) -> bool:
        return isinstance(error, Flaky)

    def ping(self) -> None:
        self.log.append("ping")

    def canary(self) -> None:
        self.log.append("canary")
        if self.refusals:
            raise ValueError("cannot execute in a read-only transaction")

    def close(self) -> None:
        pass


class MemoryDeadLetters:
    def __init__(self) -> None:
        self.records: list[Rejection] = []

    def record(self, rejections: Sequence[Rejection]) -> None:
        self.records.extend(rejections)


FAST = RunOptions(batch_size=10, until_idle=True, backoff=Backoff(initial=0.001, maximum=0.01))


def changes(n: int) -> list[Change]:
    return [Change(entity="e", key=i, op=Operation.UPSERT, version=1) for i in range(n)]


def run(source: ListSource, sink: MemorySink, dead: MemoryDeadLetters | None = None) -> Runner:
    source.log = sink.log
    runner = Runner(source, sink, dead or MemoryDeadLetters(), FAST)
    runner.run(threading.Event())
    return runner


def test_every_batch_is_checkpointed_only_after_the_sink_applied_it() -> None:
    source, sink = ListSource(changes(35), 10), MemorySink()
    runner = run(source, sink)
    assert sink.log == [
        "apply 10",
        "commit 10",
        "apply 10",
        "commit 10",
        "apply 10",
        "commit 10",
        "apply 5",
        "commit 5",
    ]
    assert runner.stats.created == 35
    assert sorted(sink.state) == list(range(35))
    # Nothing read is left counted as waiting once every batch was applied.
    assert runner.stats.unapplied == 0


def test_transient_errors_are_retried_and_counted() -> None:
    source, sink = ListSource(changes(10), 10), MemorySink(outages=3)
    runner = run(source, sink)
    assert runner.stats.retries == 3
    assert len(sink.state) == 10
    assert "target unreachable" in runner.stats.errors[0]


def test_poison_records_are_isolated_and_the_rest_applied() -> None:
    dead = MemoryDeadLetters()
    source, sink = ListSource(changes(20), 20), MemorySink(poison=frozenset({3, 17}))
    runner = run(source, sink, dead)
    assert sorted(r.change.key for r in dead.records) == [3, 17]
    assert "cannot store [3]" in dead.records[0].reason
    assert sorted(sink.state) == [k for k in range(20) if k not in (3, 17)]
    assert [len(failed) for _, failed in source.committed] == [2]
    assert runner.stats.failed == 2


def test_a_target_refusing_every_write_is_waited_out_and_nothing_is_dead_lettered() -> None:
    dead = MemoryDeadLetters()
    source, sink = ListSource(changes(20), 10), MemorySink(refusals=4)
    runner = run(source, sink, dead)
    assert dead.records == []
    assert sorted(sink.state) == list(range(20))
    assert runner.stats.failed == 0
    assert runner.stats.retries >= 3
    assert "TargetUnavailable: the target refuses every write" in runner.stats.errors[0]


def test_a_poison_record_is_dead_lettered_only_after_the_target_took_a_canary_write() -> None:
    dead = MemoryDeadLetters()
    source, sink = ListSource(changes(4), 4), MemorySink(poison=frozenset({2}))
    run(source, sink, dead)
    assert [r.change.key for r in dead.records] == [2]
    # The whole batch's refusal and the single record's are both vouched for; the halves are not.
    assert sink.log.count("canary") == 2
    assert sink.log.index("canary") < sink.log.index("commit 4")


def test_stop_finishes_the_in_flight_batch_and_checkpoints_nothing_unapplied() -> None:
    stop = threading.Event()
    source, sink = ListSource(changes(100), 10), MemorySink()
    source.log = sink.log

    def stop_after_two(stats: object) -> None:
        if len(source.committed) == 2:
            stop.set()

    runner = Runner(source, sink, MemoryDeadLetters(), RunOptions(batch_size=10), on_batch=stop_after_two)
    runner.run(stop)
    applied = {c.key for batch, _ in source.committed for c in batch}
    assert applied == set(sink.state)
    assert len(source.committed) == 2


@pytest.mark.parametrize("attempt", [0, 1, 5, 20])
def test_backoff_is_jittered_and_capped(attempt: int) -> None:
    backoff = Backoff(initial=0.5, maximum=10.0)
    delays = [backoff.delay(attempt, random.Random(seed)) for seed in range(50)]
    assert all(0 <= d <= min(10.0, 0.5 * 2**attempt) for d in delays)
    assert len(set(delays)) > 1


class CutOffSink(MemorySink):
    """A Neo4j restarted under a commit: the driver raises IncompleteCommit once, and the server is back at
    once (its canary passes)."""

    def __init__(self) -> None:
        super().__init__()
        self.cut_off = 1

    def apply(self, changes: Sequence[Change], staged: object = None) -> ApplyResult:
        if self.cut_off:
            self.cut_off -= 1
            raise neo4j.exceptions.IncompleteCommit("Failed to read from defunct connection")
        return super().apply(changes, staged)

    def is_transient(self, error: BaseException) -> bool:
        return neo4j_transient(error)


def test_a_commit_cut_off_by_a_restart_is_written_again_not_dead_lettered() -> None:
    dead = MemoryDeadLetters()
    source, sink = ListSource(changes(1), 1), CutOffSink()
    runner = run(source, sink, dead)
    assert dead.records == []
    assert sorted(sink.state) == [0]
    assert runner.stats.retries == 1


def test_the_applications_correlation_id_is_in_the_worker_log(caplog: pytest.LogCaptureFixture) -> None:
    """A dead letter's warning names each change with the correlation id the application gave it; at debug level,
    so does the line of every batch applied."""
    traced = [
        Change(entity="e", key=i, op=Operation.UPSERT, version=1, correlation_id=f"checkout-{i}") for i in range(5)
    ]
    source, sink = ListSource(traced, 5), MemorySink(poison=frozenset({3}))
    with caplog.at_level(logging.DEBUG, logger="graphsync.runner.loop"):
        run(source, sink)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("e:3@1 (upsert) correlation_id=checkout-3: " in line for line in warnings), warnings
    applied = [r.getMessage() for r in caplog.records if r.getMessage().startswith("applied ")]
    assert applied
    assert all(f"correlation_id=checkout-{i}" in applied[0] for i in range(5))
    untraced = Change(entity="e", key=1, op=Operation.DELETE, version=2)
    assert untraced.describe() == "e:1@2 (delete)"


class SlowFirstSink(MemorySink):
    """Writing key 0 waits until another batch is being written too, and then a little longer: with two
    writers, the second batch is committed by the sink first. It stages a batch as the keys it writes,
    which the runner is given as the batch's footprint."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.slow_started = threading.Event()
        self.other_started = threading.Event()
        self.writing = 0
        self.most_at_once = 0

    def stage(self, changes: Sequence[Change]) -> frozenset[int]:  # type: ignore[override]
        return frozenset(c.key for c in changes)

    def apply(self, changes: Sequence[Change], staged: object = None) -> ApplyResult:
        with self.lock:
            self.writing += 1
            self.most_at_once = max(self.most_at_once, self.writing)
        if any(c.key == 0 for c in changes):
            self.slow_started.set()
            self.other_started.wait(0.3)
            time.sleep(0.1)
        else:
            self.other_started.set()
            self.slow_started.wait(1.0)
        with self.lock:
            self.writing -= 1
            return super().apply(changes, staged)


TWO_WRITERS = replace(FAST, writers=2, footprint=lambda staged: staged)


def test_batches_applied_at_once_are_checkpointed_in_the_order_they_were_read() -> None:
    source, sink = ListSource(changes(40), 10), SlowFirstSink()
    source.log = sink.log
    runner = Runner(source, sink, MemoryDeadLetters(), TWO_WRITERS)
    runner.run(threading.Event())
    # The second batch landed before the first; neither was checkpointed before the first had.
    assert sink.most_at_once == 2
    assert sink.log.index("apply 10") < sink.log.index("commit 10")
    first_commit = sink.log.index("commit 10")
    assert sink.log[:first_commit].count("apply 10") == 2
    assert [[c.key for c in batch] for batch, _ in source.committed] == [
        list(range(i, i + 10)) for i in range(0, 40, 10)
    ]
    assert sorted(sink.state) == list(range(40))
    assert runner.stats.created == 40


@pytest.mark.parametrize(
    "footprint",
    [pytest.param(lambda staged: staged, id="same-keys"), pytest.param(lambda staged: None, id="unknown")],
)
def test_a_batch_locking_what_one_in_flight_locks_waits_for_it(
    footprint: Callable[[Any], frozenset[Hashable] | None],
) -> None:
    """Hot keys (every batch writes keys 0-9 again) or a footprint that cannot be known (deletes): one at a
    time, in order, so two transactions of the run never wait on each other's locks."""
    hot = [Change(entity="e", key=i % 10, op=Operation.UPSERT, version=1 + i // 10) for i in range(40)]
    source, sink = ListSource(hot, 10), SlowFirstSink()
    source.log = sink.log
    runner = Runner(source, sink, MemoryDeadLetters(), replace(TWO_WRITERS, footprint=footprint))
    runner.run(threading.Event())
    assert sink.most_at_once == 1
    assert sink.log == ["apply 10", "commit 10"] * 4
    assert sink.state == dict.fromkeys(range(10), 4)
