"""The worker's probes and metrics: what they answer for each report, and the HTTP server that serves them."""

from __future__ import annotations

import platform
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

import graphsync
from graphsync.change import ApplyResult
from graphsync.runner.stats import DIRECTIONS, Histogram, RunStats, TwoWayProgress
from graphsync_operator.reports import WorkerReport, WorkerState
from graphsync_operator.worker import health, heartbeat
from graphsync_operator.worker.readings import Snapshot, combined, snapshot_of
from tests.metrics import samples, value
from tests.unit.worker_data import STARTED, T0, Progress

# Probes and metrics.


def report(state: WorkerState, **fields: Any) -> WorkerReport:
    return WorkerReport(pod="p", started_at=STARTED, heartbeat=STARTED, state=state, **fields)


@pytest.mark.parametrize(
    ("state", "one_shot", "ready", "reason"),
    [
        (WorkerState.STARTING, False, False, "starting"),
        (WorkerState.RUNNING, False, True, "running"),
        (WorkerState.FINISHED, True, True, "finished"),
        (WorkerState.FINISHED, False, False, "finished: shutting down"),
        (WorkerState.FAILED, False, False, "failed: bad spec"),
    ],
)
def test_ready_only_while_running_or_when_a_one_shot_run_finished(
    state: WorkerState, one_shot: bool, ready: bool, reason: str
) -> None:
    found, text = health.readiness(
        report(state, error="bad spec" if state is WorkerState.FAILED else None), one_shot=one_shot
    )
    assert found is ready
    assert text.startswith(reason)


def test_not_ready_while_retrying_and_the_reason_names_the_side() -> None:
    found, text = health.readiness(
        report(WorkerState.RETRYING, error="target: retry 3: ServiceUnavailable: 127.0.0.1:1"), one_shot=True
    )
    assert not found
    assert text == "retrying: target: retry 3: ServiceUnavailable: 127.0.0.1:1"


def test_alive_until_three_heartbeats_are_missed() -> None:
    assert health.liveness(T0, now=T0 + 30, interval=10) == (True, "alive")
    assert health.liveness(T0, now=T0 + 31, interval=10) == (False, "no heartbeat for 31s")


class Fixed(Collector):
    def __init__(self, found: list[Metric]) -> None:
        self.found = found

    def collect(self) -> list[Metric]:
        return self.found


def exposition(found: list[Metric]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(found))
    return generate_latest(registry).decode()


LATENCY = Histogram().observe(0.004).observe(0.2).observe(0.2).observe(90.0)
SNAPSHOT = Snapshot(
    synced=120,
    failed=2,
    retries=5,
    created=100,
    updated=15,
    deleted=5,
    stale=7,
    batches=4,
    batch_seconds=LATENCY,
    retries_by=(("source", 1), ("target", 4)),
    read=130,
    rejected=1,
)


def test_metrics_carry_items_by_outcome_batches_latency_retries_lag_and_up() -> None:
    text = exposition(
        health.families(
            report(
                WorkerState.RUNNING,
                synced=120,
                failed=2,
                retries=5,
                lag_seconds=0.0,
                last_sync_time=datetime.fromtimestamp(T0, UTC),
                open_conflicts=3,
            ),
            up=True,
            pipeline="shop",
            snapshot=SNAPSHOT,
            dead_letters=2,
        )
    )
    outcomes = {o: value(text, "graphsync_items_total", pipeline="shop", outcome=o) for o in health.OUTCOMES}
    assert outcomes == {"created": 100, "updated": 15, "deleted": 5, "stale": 7, "failed": 2}
    assert value(text, "graphsync_batches_total", pipeline="shop") == 4
    assert value(text, "graphsync_retries_total", pipeline="shop") == 5
    assert value(text, "graphsync_retries_total", dependency="target") == 4
    assert value(text, "graphsync_retries_total", dependency="dead_letters") == 0
    assert value(text, "graphsync_events_total", pipeline="shop", outcome="read") == 130
    assert value(text, "graphsync_events_total", pipeline="shop", outcome="rejected") == 1
    assert value(text, "graphsync_two_way_writes_total", pipeline="shop") == 0
    assert value(text, "graphsync_lag_seconds", pipeline="shop") == 0.0
    assert value(text, "graphsync_last_sync_timestamp_seconds") == T0
    assert value(text, "graphsync_dead_letters", pipeline="shop") == 2
    assert value(text, "graphsync_open_conflicts", pipeline="shop") == 3
    assert value(text, "graphsync_worker_up", pipeline="shop") == 1


def test_events_read_and_rejected_and_two_way_writes_come_from_the_run_s_stats_over_its_phases() -> None:
    before, streaming = RunStats(), RunStats()
    before.add_batch(10, ApplyResult(created=9), ["orders/7: not JSON"], rejected=1)
    streaming.add_batch(4, ApplyResult(updated=4), [])
    text = exposition(
        health.families(
            report(WorkerState.RUNNING), up=True, snapshot=combined([snapshot_of(before), snapshot_of(streaming)])
        )
    )
    assert value(text, "graphsync_events_total", outcome="read") == 14
    assert value(text, "graphsync_events_total", outcome="rejected") == 1
    assert value(text, "graphsync_items_total", outcome="failed") == 1

    both_ways = RunStats(two_way=TwoWayProgress())
    both_ways.add_pass(TwoWayProgress(compared=20, to_target=3, to_source=2, resolved=1, held=1))
    text = exposition(health.families(report(WorkerState.RUNNING), up=True, snapshot=snapshot_of(both_ways)))
    directions = {d: value(text, "graphsync_two_way_writes_total", direction=d) for d in DIRECTIONS}
    assert directions == {"to_target": 3, "to_source": 2, "resolved": 1}
    assert value(text, "graphsync_events_total", outcome="read") == 20


def test_batch_latency_is_a_histogram_with_cumulative_buckets() -> None:
    text = exposition(health.families(report(WorkerState.RUNNING), up=True, pipeline="shop", snapshot=SNAPSHOT))
    assert value(text, "graphsync_batch_duration_seconds_bucket", le="0.005") == 1
    assert value(text, "graphsync_batch_duration_seconds_bucket", le="0.25") == 3
    assert value(text, "graphsync_batch_duration_seconds_bucket", le="60.0") == 3
    assert value(text, "graphsync_batch_duration_seconds_bucket", le="+Inf") == 4
    assert value(text, "graphsync_batch_duration_seconds_count") == 4
    assert value(text, "graphsync_batch_duration_seconds_sum") == pytest.approx(90.404)


def test_every_label_comes_from_a_fixed_set_whatever_the_errors_say() -> None:
    failing = report(WorkerState.RETRYING, error="target: retry 3: key {'id': 42} refused")
    found = samples(exposition(health.families(failing, up=False, pipeline="shop", snapshot=SNAPSHOT)))
    labels = {(key, val) for sample in found for key, val in sample.labels.items() if key != "le"}
    assert {key for key, _ in labels} == {
        "pipeline",
        "component",
        "outcome",
        "direction",
        "dependency",
        "version",
        "python",
    }
    # One value each, the process's own (graphsync_build_info).
    assert {val for key, val in labels if key in ("version", "python")} == {
        graphsync.__version__,
        platform.python_version(),
    }
    assert {val for key, val in labels if key == "outcome"} == {*health.OUTCOMES, "read", "rejected"}
    assert {val for key, val in labels if key == "dependency"} == {"source", "target", "dead_letters"}
    assert {val for key, val in labels if key == "direction"} == {"to_target", "to_source", "resolved"}
    assert {val for key, val in labels if key == "component"} == {"sync"}


def test_a_component_or_dependency_outside_the_fixed_sets_is_counted_as_other() -> None:
    odd = Snapshot(retries_by=(("target", 2), ("relay", 1), ("redis-7", 3)))
    text = exposition(health.families(report(WorkerState.RUNNING), up=True, component="backfill", snapshot=odd))
    found = samples(text)
    assert {s.labels["component"] for s in found} == {"other"}
    assert {s.labels["dependency"] for s in found if s.name == "graphsync_retries_total"} == {
        "source",
        "target",
        "dead_letters",
        "other",
    }
    assert value(text, "graphsync_retries_total", dependency="other") == 4
    assert value(text, "graphsync_retries_total", dependency="target") == 2


def test_each_subcommand_labels_its_series_and_a_two_way_run_counts_writes_by_direction() -> None:
    writes = Snapshot(two_way_writes=(("to_target", 5), ("to_source", 2), ("resolved", 1)))
    for component in ("sync", "reconcile", "cleanup"):
        text = exposition(health.families(report(WorkerState.RUNNING), up=True, component=component, snapshot=writes))
        assert {s.labels["component"] for s in samples(text)} == {component}
        assert value(text, "graphsync_worker_up", component=component) == 1
        directions = {d: value(text, "graphsync_two_way_writes_total", direction=d) for d in DIRECTIONS}
        assert directions == {"to_target": 5, "to_source": 2, "resolved": 1}


def test_unknown_values_are_left_out_and_down_is_zero() -> None:
    text = exposition(health.families(report(WorkerState.STARTING), up=False))
    for unknown in ("lag_seconds", "last_sync_timestamp_seconds", "dead_letters"):
        assert f"graphsync_{unknown}" not in text
    assert value(text, "graphsync_open_conflicts") == 0
    assert value(text, "graphsync_worker_up") == 0
    assert value(text, "graphsync_items_total") == 0


# The server.


@pytest.fixture
def served() -> Iterator[tuple[heartbeat.Reporter, Progress, str]]:
    runs = Progress()
    reporter = heartbeat.Reporter(pod="p", interval=60, progress=runs)
    server = health.HealthServer(0, reporter, health.Extras(pipeline="shop", snapshot=runs))
    server.start()
    yield reporter, runs, f"http://127.0.0.1:{server.port}"
    server.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_server_answers_probes_and_scrapes(served: tuple[heartbeat.Reporter, Progress, str]) -> None:
    reporter, runs, base = served
    assert get(base + "/healthz") == (200, "alive\n")
    assert get(base + "/readyz") == (503, "starting: nothing read from the source yet\n")
    runs.value = Snapshot(synced=9, updated=9, progressed_at=time.time(), caught_up_at=time.time(), caught_up=True)
    reporter.tick()
    assert get(base + "/readyz") == (200, "running\n")
    status, text = get(base + "/metrics")
    assert status == 200
    assert value(text, "graphsync_items_total", outcome="updated") == 9
    assert value(text, "graphsync_worker_up") == 1
    assert value(text, "graphsync_build_info", version=graphsync.__version__, python=platform.python_version()) == 1
    assert get(base + "/nothing")[0] == 404
    reporter.ticked_at -= 181
    assert get(base + "/healthz") == (503, "no heartbeat for 181s\n")


def test_the_dead_letter_count_is_read_apart_from_scrapes_and_a_failed_count_keeps_the_last() -> None:
    answers: list[int | Exception] = [4, ConnectionError("source down"), 6]

    def count() -> int:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    counter = health.DeadLetterCount(count)
    assert counter() is None
    counter.refresh()
    assert counter() == 4
    counter.refresh()
    assert counter() == 4
    assert counter() == 4  # reading never counts: the answers are not used up
    counter.refresh()
    assert counter() == 6
    assert answers == []


def test_commit_to_visible_counts_each_change_of_a_transaction_and_the_backlog_what_waits() -> None:
    stats = RunStats()
    now = time.time()
    # Two transactions of a batch: 3 changes committed 40 ms ago, 1 committed 2 s ago.
    stats.add_batch(4, ApplyResult(created=4), [], committed=[(now - 0.04, 3), (now - 2.0, 1)])
    stats.queued(7)
    text = exposition(
        health.families(report(WorkerState.RUNNING), up=True, pipeline="shop", snapshot=snapshot_of(stats))
    )
    assert value(text, "graphsync_commit_to_visible_seconds_bucket", le="0.025") == 0
    assert value(text, "graphsync_commit_to_visible_seconds_bucket", le="0.1") == 3
    assert value(text, "graphsync_commit_to_visible_seconds_bucket", le="2.5") == 4
    assert value(text, "graphsync_commit_to_visible_seconds_count") == 4
    assert value(text, "graphsync_commit_to_visible_seconds_sum") == pytest.approx(3 * 0.04 + 2.0, abs=0.05)
    assert value(text, "graphsync_backlog_events") == 7


def test_a_source_clock_ahead_of_the_worker_s_counts_as_visible_at_once() -> None:
    stats = RunStats()
    stats.add_batch(1, ApplyResult(created=1), [], committed=[(time.time() + 5.0, 1)])
    assert stats.visible_seconds.count == 1
    assert stats.visible_seconds.total == 0.0
