"""The engine's batch latency histogram and the outcome counts the worker's metrics are made of (plain data)."""

from __future__ import annotations

import pytest

from graphsync.change import ApplyResult
from graphsync.runner.stats import FileProgress, Histogram, RunStats
from graphsync_operator.worker import readings


def test_an_observation_lands_in_the_first_bucket_whose_bound_holds_it() -> None:
    found = Histogram(bounds=(0.1, 1.0)).observe(0.1).observe(0.5).observe(1.0).observe(7.0)
    assert found.counts == (1, 2, 1)
    assert found.cumulative() == [(0.1, 1), (1.0, 3), (float("inf"), 4)]
    assert found.count == 4
    assert found.total == pytest.approx(8.6)


def test_memory_stays_bounded_and_the_original_unchanged() -> None:
    empty = Histogram()
    full = empty
    for i in range(10_000):
        full = full.observe(i / 100)
    assert empty.count == 0
    assert len(full.counts) == len(empty.bounds) + 1
    assert full.count == 10_000


def test_histograms_add_up_only_with_the_same_buckets() -> None:
    one = Histogram(bounds=(1.0,)).observe(0.5)
    two = Histogram(bounds=(1.0,)).observe(2.0)
    assert one.plus(two).counts == (1, 1)
    with pytest.raises(ValueError, match="different buckets"):
        one.plus(Histogram(bounds=(2.0,)))


def test_a_run_records_each_batch_s_seconds_and_an_earlier_phase_adds_its_own() -> None:
    snapshot, stream = RunStats(), RunStats()
    snapshot.add_batch(10, ApplyResult(created=10), [], seconds=0.2)
    snapshot.add_retry("target: retry 1: refused", component="target")
    stream.add_batch(3, ApplyResult(updated=2, stale=1), [], seconds=0.02)
    stream.relay_failed("outbox unreachable")
    stream.absorb(snapshot)
    assert stream.batch_seconds.count == 2
    assert stream.batch_seconds.total == pytest.approx(0.22)
    assert stream.retries_by == {"source": 1, "target": 1}
    assert stream.retries == 2


def test_a_snapshot_carries_outcomes_and_combines_phases() -> None:
    first, second = RunStats(), RunStats()
    first.add_batch(5, ApplyResult(created=4, stale=1), ["e:1: bad"], seconds=0.1)
    second.add_batch(3, ApplyResult(updated=2, deleted=1), [], seconds=3.0)
    second.add_retry("source: reading: down", component="source")
    phases = [readings.snapshot_of(first), readings.snapshot_of(second)]
    both = readings.combined(phases)
    assert both is not None
    assert (both.created, both.updated, both.deleted, both.stale, both.failed) == (4, 2, 1, 1, 1)
    assert both.synced == 7
    assert both.batches == 2
    assert both.batch_seconds.count == 2
    assert both.retries_by == (("source", 1),)


def test_a_files_run_counts_files_written_as_updated_removed_as_deleted_and_unchanged_as_stale() -> None:
    stats = RunStats(files=FileProgress(succeeded=7, removed=2, unchanged=40, failed=1))
    found = readings.snapshot_of(stats)
    assert (found.created, found.updated, found.deleted, found.stale) == (0, 7, 2, 40)
    assert found.synced == 9
