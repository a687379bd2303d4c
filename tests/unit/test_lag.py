"""How far behind a run is: the engine's lag rule, and when a runner counts as caught up (plain data)."""

from __future__ import annotations

import threading

from graphsync.runner.contracts import Batch
from graphsync.runner.loop import Runner
from graphsync.runner.stats import RunStats, lag_seconds
from tests.unit.test_runner import FAST, ListSource, MemoryDeadLetters, MemorySink, changes
from tests.unit.worker_data import T0

# The lag rule (engine).


def test_lag_is_unknown_before_the_first_idle_read() -> None:
    assert lag_seconds(None, caught_up=False, now=T0) is None
    assert RunStats().lag() is None


def test_lag_is_zero_while_reads_keep_finding_nothing_left() -> None:
    assert lag_seconds(T0, caught_up=True, now=T0 + 300) == 0.0


def test_lag_counts_from_the_last_idle_read_once_reads_find_work() -> None:
    assert lag_seconds(T0, caught_up=False, now=T0 + 12.5) == 12.5
    assert lag_seconds(T0, caught_up=False, now=T0 - 1) == 0.0  # a clock step back is no negative lag


def test_stats_record_the_caught_up_time_and_the_newest_retry() -> None:
    stats = RunStats()
    stats.add_read(caught_up=True)
    first = stats.caught_up_at
    assert first is not None
    assert stats.lag() == 0.0
    stats.add_read(caught_up=False)
    assert stats.caught_up_at == first
    assert stats.lag(now=first + 7) == 7
    assert stats.last_retry_at is None
    stats.add_retry("target: retry 1: boom")
    assert stats.last_retry_at is not None


def test_absorbing_an_earlier_phase_keeps_the_latest_times() -> None:
    snapshot, stream = RunStats(), RunStats()
    snapshot.last_batch_at, snapshot.last_retry_at, snapshot.caught_up_at = T0 + 5, T0 + 1, T0 + 4
    stream.last_batch_at = T0 + 9
    merged = stream.absorb(snapshot)
    assert (merged.last_batch_at, merged.last_retry_at, merged.caught_up_at) == (T0 + 9, T0 + 1, T0 + 4)


def test_the_runner_is_caught_up_after_an_idle_read_with_nothing_left_to_apply() -> None:
    source, sink = ListSource(changes(25), 10), MemorySink()
    source.log = sink.log
    seen: list[RunStats] = []
    runner = Runner(source, sink, MemoryDeadLetters(), FAST, on_batch=seen.append)
    stats = runner.run(threading.Event())
    assert stats.caught_up
    assert stats.lag() == 0.0
    # Told once before any work (so a watcher holds the live stats), then after each of the 3 batches.
    assert len(seen) == 4
    assert all(item is stats for item in seen)


class FiniteSource(ListSource):
    """A snapshot: its last batch says it is the last; it never reads empty."""

    def read(self, limit: int) -> Batch:
        batch = super().read(limit)
        batch.final = len(self.pending) == 0
        return batch


def test_a_finite_source_is_caught_up_once_its_last_batch_is_applied() -> None:
    source, sink = FiniteSource(changes(25), 10), MemorySink()
    source.log = sink.log
    stats = Runner(source, sink, MemoryDeadLetters(), FAST).run(threading.Event())
    assert stats.synced == 25
    assert stats.caught_up
    assert stats.caught_up_at is not None


def test_a_run_stopped_with_batches_read_but_not_applied_is_not_caught_up() -> None:
    stop = threading.Event()
    source, sink = ListSource(changes(30), 10), MemorySink()
    source.log = sink.log

    def stop_after_two(s: RunStats) -> None:
        if s.batches == 2:
            stop.set()

    stats = Runner(source, sink, MemoryDeadLetters(), FAST, on_batch=stop_after_two).run(stop)
    assert stats.lag() is None


class DownSource(ListSource):
    def __init__(self, failures: int) -> None:
        super().__init__([], 10)
        self.failures = failures

    def read(self, limit: int) -> Batch:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("redis:6379 refused")
        return super().read(limit)


def test_a_failed_read_is_a_retry_of_the_source_and_not_caught_up() -> None:
    source, sink = DownSource(failures=2), MemorySink()
    source.log = sink.log
    stats = Runner(source, sink, MemoryDeadLetters(), FAST).run(threading.Event())
    assert stats.retries == 2
    assert stats.errors[0] == "source: reading: ConnectionError: redis:6379 refused"
    assert stats.caught_up  # the third read found nothing


def test_a_retry_names_the_side_that_failed() -> None:
    source, sink = ListSource(changes(5), 10), MemorySink(outages=1)
    source.log = sink.log
    stats = Runner(source, sink, MemoryDeadLetters(), FAST).run(threading.Event())
    assert stats.errors[0].startswith("target: retry 1: Flaky: target unreachable")


class DownSink(MemorySink):
    def prepare(self) -> None:
        raise ConnectionError("neo4j:7687 refused")


def test_stopping_while_the_target_is_down_before_the_first_batch_ends_the_run_quietly() -> None:
    stop = threading.Event()
    source, sink = ListSource(changes(5), 10), DownSink()
    source.log = sink.log
    stats = Runner(source, sink, MemoryDeadLetters(), FAST, on_batch=lambda _: stop.set()).run(stop)
    assert stats.retries == 1
    assert stats.synced == 0
