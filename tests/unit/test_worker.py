"""The worker's decisions on plain data: lag, state, the Lease report, when to send it, probes and metrics."""

from __future__ import annotations

import json
import logging
import threading
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

from graphsync.change import ApplyResult
from graphsync.pipeline.contracts import Batch
from graphsync.pipeline.runner import Runner
from graphsync.pipeline.stats import FileProgress, RunStats, TwoWayProgress, lag_seconds
from graphsync.reconcile.report import EntityReport, Report
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_operator import health, heartbeat, progress
from graphsync_operator.heartbeat import Attempt, Ending, Snapshot
from graphsync_operator.progress import WorkerReport, WorkerState
from graphsync_operator.worker import Identity, OneLine
from tests.unit.test_runner import FAST, ListSource, MemoryDeadLetters, MemorySink, changes

T0 = 1_700_000_000.0
STARTED = datetime.fromtimestamp(T0, UTC)


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
    stats = Runner(source, sink, MemoryDeadLetters(), FAST, on_batch=lambda s: s.batches == 2 and stop.set()).run(stop)
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


# Snapshots of a run's stats.


def test_a_snapshot_reads_counters_times_and_the_newest_error() -> None:
    stats = RunStats()
    stats.add_batch(3, ApplyResult(created=2, updated=1), ["customer 7: bad"])
    stats.add_retry("target: retry 1: ServiceUnavailable")
    stats.add_read(caught_up=True)
    found = heartbeat.snapshot_of(stats)
    assert (found.synced, found.failed, found.retries) == (3, 1, 1)
    assert found.last_sync_at == stats.last_batch_at
    assert found.progressed_at == max(stats.last_batch_at or 0, stats.caught_up_at or 0)
    assert found.error == "target: retry 1: ServiceUnavailable"
    assert found.checkpoint is None
    assert found.open_conflicts is None


def test_a_files_run_counts_files_and_reports_its_commit() -> None:
    stats = RunStats(files=FileProgress(succeeded=4, removed=1, failed=1, commit="abc123"))
    found = heartbeat.snapshot_of(stats, notified_at=T0)
    assert found.synced == 5
    assert found.checkpoint == "abc123"
    assert found.last_sync_at == found.progressed_at == T0


def test_a_bidirectional_run_reports_its_held_conflicts() -> None:
    stats = RunStats(two_way=TwoWayProgress(held=3))
    assert heartbeat.snapshot_of(stats).open_conflicts == 3


def test_phases_add_up_and_the_current_one_says_whether_it_is_caught_up() -> None:
    snapshot = Snapshot(synced=10, retries=1, progressed_at=T0 + 5, last_sync_at=T0 + 5, caught_up_at=T0 + 5)
    stream = Snapshot(synced=2, failed=1, progressed_at=T0 + 8, last_sync_at=T0 + 8, error="orders 3: bad")
    found = heartbeat.combined([snapshot, stream])
    assert found is not None
    assert (found.synced, found.failed, found.retries) == (12, 1, 1)
    assert found.last_sync_at == T0 + 8
    # The stream has not found its source empty yet: behind since the snapshot was.
    assert (found.caught_up_at, found.caught_up) == (T0 + 5, False)
    assert found.error == "orders 3: bad"
    assert heartbeat.combined([]) is None


def test_the_tracker_carries_earlier_phases_until_the_run_settles() -> None:
    tracker = heartbeat.Tracker()
    assert tracker.snapshot() is None
    first, second = RunStats(), RunStats()
    first.add_batch(5, ApplyResult(created=5), [])
    tracker(first)
    tracker(second)
    second.add_batch(2, ApplyResult(updated=2), [])  # read live, not only when told
    found = tracker.snapshot()
    assert found is not None
    assert found.synced == 7
    second.absorb(first)
    tracker.settle(second)
    settled = tracker.snapshot()
    assert settled is not None
    assert settled.synced == 7


# State and report.


@pytest.mark.parametrize(
    ("snapshot", "ending", "state"),
    [
        (None, None, WorkerState.STARTING),
        (Snapshot(), None, WorkerState.STARTING),
        (Snapshot(last_retry_at=T0), None, WorkerState.RETRYING),
        (Snapshot(progressed_at=T0), None, WorkerState.RUNNING),
        (Snapshot(progressed_at=T0, last_retry_at=T0 + 1), None, WorkerState.RETRYING),
        (Snapshot(progressed_at=T0 + 2, last_retry_at=T0 + 1), None, WorkerState.RUNNING),
        (Snapshot(progressed_at=T0, last_retry_at=T0 + 1), Ending(WorkerState.FINISHED), WorkerState.FINISHED),
        (None, Ending(WorkerState.FAILED, "bad spec"), WorkerState.FAILED),
    ],
)
def test_the_state_follows_the_newest_sign_of_progress_or_retry(
    snapshot: Snapshot | None, ending: Ending | None, state: WorkerState
) -> None:
    assert heartbeat.state_of(snapshot, ending) is state


def test_a_running_report_carries_progress_and_no_error() -> None:
    snapshot = Snapshot(
        synced=120,
        failed=2,
        retries=1,
        progressed_at=T0 + 30,
        last_sync_at=T0 + 20,
        last_retry_at=T0 + 10,
        caught_up_at=T0 + 25,
        caught_up=False,
        error="orders 3: bad",
        open_conflicts=4,
    )
    report = heartbeat.report_of(pod="shop-worker-0", started_at=STARTED, now=T0 + 40, snapshot=snapshot)
    assert report.state is WorkerState.RUNNING
    assert (report.synced, report.failed, report.retries) == (120, 2, 1)
    assert report.lag_seconds == 15.0
    assert report.last_sync_time == datetime.fromtimestamp(T0 + 20, UTC)
    assert report.heartbeat == datetime.fromtimestamp(T0 + 40, UTC)
    assert report.error is None
    assert report.open_conflicts == 4


def test_a_retrying_report_says_why_clipped_to_what_the_annotation_allows() -> None:
    snapshot = Snapshot(progressed_at=T0, last_retry_at=T0 + 1, error="target: retry 9: " + "x" * 3000)
    report = heartbeat.report_of(pod="p", started_at=STARTED, now=T0 + 2, snapshot=snapshot)
    assert report.state is WorkerState.RETRYING
    assert report.error is not None
    assert report.error.startswith("target: retry 9: ")
    assert len(report.error) == heartbeat.MAX_ERROR


def test_the_final_report_of_a_reconciliation_carries_its_summary() -> None:
    run = Report("shop", ReconcileSpec.model_validate({"action": "repair"}))
    run.entities.append(EntityReport("customer", source=10, target=9, missing=1, repaired=1))
    run.finish()
    reconciliation = progress.Reconciliation.model_validate(run.summary())
    report = heartbeat.report_of(
        pod="p",
        started_at=STARTED,
        now=T0,
        snapshot=Snapshot(progressed_at=T0),
        ending=Ending(WorkerState.FINISHED),
        reconciliation=reconciliation,
    )
    document = json.loads(report.model_dump_json(by_alias=True))
    assert document["state"] == "finished"
    assert document["reconciliation"]["outcome"] == "repaired"
    assert document["reconciliation"]["compared"] == 10
    assert document["reconciliation"]["missing"] == 1
    assert WorkerReport.model_validate_json(report.model_dump_json(by_alias=True)) == report


def test_the_annotation_is_camel_case_json() -> None:
    report = heartbeat.report_of(pod="p", started_at=STARTED, now=T0, snapshot=Snapshot(caught_up_at=T0))
    document = json.loads(report.model_dump_json(by_alias=True))
    assert {"pod", "startedAt", "heartbeat", "state", "lagSeconds", "lastSyncTime", "openConflicts"} <= set(document)
    assert document["lagSeconds"] == 0.0


class FakeKube:
    def __init__(self, error: Exception | None = None) -> None:
        self.patches: list[tuple[Any, ...]] = []
        self.error = error

    def patch_annotations(self, api_version: str, kind: str, namespace: str, name: str, values: dict[str, Any]) -> None:
        if self.error is not None:
            raise self.error
        self.patches.append((api_version, kind, namespace, name, values))


def test_the_lease_gets_a_merge_patch_of_this_pods_annotation_only() -> None:
    client = FakeKube()
    send = heartbeat.lease_sender(client, namespace="shop", lease="shop-progress", pod="shop-worker-0")  # type: ignore[arg-type]
    report = heartbeat.report_of(pod="shop-worker-0", started_at=STARTED, now=T0, snapshot=None)
    send(report)
    [(api_version, kind, namespace, name, values)] = client.patches
    assert (api_version, kind, namespace, name) == ("coordination.k8s.io/v1", "Lease", "shop", "shop-progress")
    assert values == {progress.annotation_key("shop-worker-0"): report.model_dump_json(by_alias=True)}


# When to send.


def test_the_first_report_goes_out_at_once() -> None:
    assert heartbeat.due(T0, None, WorkerState.STARTING, 10)


def test_an_unchanged_state_waits_for_the_heartbeat() -> None:
    last = Attempt(T0, WorkerState.RUNNING)
    assert not heartbeat.due(T0 + 9.9, last, WorkerState.RUNNING, 10)
    assert heartbeat.due(T0 + 10, last, WorkerState.RUNNING, 10)


def test_a_change_of_state_goes_out_promptly_but_at_most_once_a_second() -> None:
    last = Attempt(T0, WorkerState.STARTING)
    assert not heartbeat.due(T0 + 0.5, last, WorkerState.RUNNING, 10)
    assert heartbeat.due(T0 + 1.0, last, WorkerState.RUNNING, 10)


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


def test_metrics_carry_counters_lag_last_sync_and_up() -> None:
    text = exposition(
        health.families(
            report(
                WorkerState.RUNNING,
                synced=120,
                failed=2,
                retries=5,
                lag_seconds=0.0,
                last_sync_time=datetime.fromtimestamp(T0, UTC),
            ),
            up=True,
        )
    )
    assert 'graphsync_items_total{outcome="synced"} 120.0' in text
    assert 'graphsync_items_total{outcome="failed"} 2.0' in text
    assert "graphsync_retries_total 5.0" in text
    assert "graphsync_lag_seconds 0.0" in text
    assert (
        f"graphsync_last_sync_timestamp_seconds {T0}" in text or "graphsync_last_sync_timestamp_seconds 1.7e+09" in text
    )
    assert "graphsync_worker_up 1.0" in text


def test_unknown_values_are_left_out_and_down_is_zero() -> None:
    text = exposition(health.families(report(WorkerState.STARTING), up=False))
    assert "graphsync_lag_seconds" not in text
    assert "graphsync_last_sync_timestamp_seconds" not in text
    assert "graphsync_worker_up 0.0" in text


# The environment and the log.


def test_a_log_record_is_one_line() -> None:
    record = logging.LogRecord("runner", logging.WARNING, __file__, 1, "retrying: %s", ("refused:\nagain",), None)
    assert OneLine("%(levelname)s %(message)s").format(record) == "WARNING retrying: refused:\\nagain"


def test_identity_defaults() -> None:
    found = Identity.from_env({"HOSTNAME": "laptop"})
    assert found == Identity(pod="laptop", http_port=8080, heartbeat_seconds=progress.HEARTBEAT_SECONDS)
    assert found.lease is None


def test_identity_from_the_deployment() -> None:
    env = {
        "POD_NAME": "shop-worker-7d9f",
        "POD_NAMESPACE": "shop",
        "GRAPHSYNC_LEASE": "shop-progress",
        "GRAPHSYNC_HTTP_PORT": "9090",
        "GRAPHSYNC_HEARTBEAT_SECONDS": "2.5",
    }
    assert Identity.from_env(env) == Identity("shop-worker-7d9f", "shop", "shop-progress", 9090, 2.5)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GRAPHSYNC_HTTP_PORT", "http", "GRAPHSYNC_HTTP_PORT: 'http' is not a number"),
        ("GRAPHSYNC_HTTP_PORT", "70000", "not a port number"),
        ("GRAPHSYNC_HEARTBEAT_SECONDS", "0", "not a positive number"),
    ],
)
def test_a_bad_variable_is_named(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Identity.from_env({name: value})


# The reporter and the server, with a fake Lease.


class Progress:
    def __init__(self) -> None:
        self.value: Snapshot | None = None

    def __call__(self) -> Snapshot | None:
        return self.value


def wait_for(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_the_reporter_sends_at_start_on_a_change_of_state_and_at_the_end() -> None:
    sent: list[WorkerReport] = []
    runs = Progress()
    reporter = heartbeat.Reporter(pod="p", interval=60, progress=runs, send=sent.append)
    reporter.start()
    wait_for(lambda: len(sent) == 1)
    assert sent[0].state is WorkerState.STARTING
    runs.value = Snapshot(synced=3, progressed_at=time.time())
    wait_for(lambda: len(sent) == 2)
    assert sent[1].state is WorkerState.RUNNING
    assert reporter.latest.synced == 3
    final = reporter.finish(Ending(WorkerState.FINISHED))
    assert sent[-1] == final
    assert final.state is WorkerState.FINISHED
    assert reporter.finished


def test_a_failing_patch_is_logged_and_the_final_report_tried_again(caplog: pytest.LogCaptureFixture) -> None:
    client = FakeKube(error=RuntimeError("leases.coordination.k8s.io is forbidden"))
    send = heartbeat.lease_sender(client, namespace="n", lease="l", pod="p")  # type: ignore[arg-type]
    reporter = heartbeat.Reporter(pod="p", interval=60, progress=Progress(), send=send)
    reporter.start()
    wait_for(lambda: "forbidden" in caplog.text)
    client.error = None
    final = reporter.finish(Ending(WorkerState.FAILED, "bad spec"))
    assert len(client.patches) == 1
    assert json.loads(client.patches[0][4][progress.annotation_key("p")])["state"] == "failed"
    assert final.error == "bad spec"


@pytest.fixture
def served() -> Iterator[tuple[heartbeat.Reporter, Progress, str]]:
    runs = Progress()
    reporter = heartbeat.Reporter(pod="p", interval=60, progress=runs)
    server = health.HealthServer(0, reporter)
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
    runs.value = Snapshot(synced=9, progressed_at=time.time(), caught_up_at=time.time(), caught_up=True)
    reporter.tick()
    assert get(base + "/readyz") == (200, "running\n")
    status, text = get(base + "/metrics")
    assert status == 200
    assert 'graphsync_items_total{outcome="synced"} 9.0' in text
    assert "graphsync_worker_up 1.0" in text
    assert get(base + "/nothing")[0] == 404
    reporter.ticked_at -= 181
    assert get(base + "/healthz") == (503, "no heartbeat for 181s\n")


def test_a_restarted_container_carries_its_pods_counts_over() -> None:
    earlier = WorkerReport(
        pod="shop-worker-1",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        heartbeat=datetime(2026, 1, 1, tzinfo=UTC),
        state=WorkerState.RUNNING,
        synced=250,
        failed=2,
    ).model_dump_json(by_alias=True)
    assert heartbeat.carried_over({progress.annotation_key("shop-worker-1"): earlier}, "shop-worker-1") == (250, 2)
    assert heartbeat.carried_over({progress.annotation_key("shop-worker-2"): earlier}, "shop-worker-2") == (0, 0)
    assert heartbeat.carried_over({progress.annotation_key("shop-worker-1"): "not json"}, "shop-worker-1") == (0, 0)
    assert heartbeat.carried_over(None, "shop-worker-1") == (0, 0)


def test_a_run_whose_loops_stop_coming_back_is_stuck_and_not_alive() -> None:
    fresh = Snapshot(progressed_at=T0, alive_at=T0)
    assert heartbeat.state_of(fresh, None, now=T0 + 10) is WorkerState.RUNNING
    assert heartbeat.state_of(fresh, None, now=T0 + progress.STUCK_SECONDS + 1) is WorkerState.STUCK
    # A run that does not stamp (files, bidirectional) is never called stuck.
    assert heartbeat.state_of(Snapshot(progressed_at=T0), None, now=T0 + 10_000) is WorkerState.RUNNING
    report = heartbeat.report_of(pod="p", started_at=STARTED, now=T0 + 400, snapshot=fresh)
    assert report.state is WorkerState.STUCK
    assert report.error == "no read or write has come back for 400s"
    assert health.liveness(T0 + 399, now=T0 + 400, interval=10, state=WorkerState.STUCK) == (
        False,
        "stuck: no read or write has come back",
    )
    assert health.liveness(T0 + 399, now=T0 + 400, interval=10, state=WorkerState.RUNNING) == (True, "alive")
