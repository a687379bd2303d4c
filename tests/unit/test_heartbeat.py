"""The worker's heartbeat on plain data: its state, the Lease report, when to send it, the reporter thread."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from graphsync.change import ApplyResult
from graphsync.reconcile.report import EntityReport, Report
from graphsync.runner.stats import FileProgress, RunStats, TwoWayProgress
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_operator import reports
from graphsync_operator.api import pods
from graphsync_operator.reports import WorkerReport, WorkerState
from graphsync_operator.worker import health, heartbeat
from graphsync_operator.worker.heartbeat import Attempt, Ending
from graphsync_operator.worker.readings import Snapshot, combined, snapshot_of
from tests.unit.worker_data import STARTED, T0, Progress

# Snapshots of a run's stats.


def test_a_snapshot_reads_counters_times_and_the_newest_error() -> None:
    stats = RunStats()
    stats.add_batch(3, ApplyResult(created=2, updated=1), ["customer 7: bad"])
    stats.add_retry("target: retry 1: ServiceUnavailable")
    stats.add_read(caught_up=True)
    found = snapshot_of(stats)
    assert (found.synced, found.failed, found.retries) == (3, 1, 1)
    assert found.last_sync_at == stats.last_batch_at
    assert found.progressed_at == max(stats.last_batch_at or 0, stats.caught_up_at or 0)
    assert found.error == "target: retry 1: ServiceUnavailable"
    assert found.checkpoint is None
    assert found.open_conflicts is None


def test_a_files_run_counts_files_and_reports_its_commit() -> None:
    stats = RunStats(files=FileProgress(succeeded=4, removed=1, failed=1, commit="abc123"))
    found = snapshot_of(stats, notified_at=T0)
    assert found.synced == 5
    assert found.checkpoint == "abc123"
    assert found.last_sync_at == found.progressed_at == T0


def test_a_bidirectional_run_reports_its_held_conflicts() -> None:
    stats = RunStats(two_way=TwoWayProgress(held=3))
    assert snapshot_of(stats).open_conflicts == 3


def test_phases_add_up_and_the_current_one_says_whether_it_is_caught_up() -> None:
    snapshot = Snapshot(synced=10, retries=1, progressed_at=T0 + 5, last_sync_at=T0 + 5, caught_up_at=T0 + 5)
    stream = Snapshot(synced=2, failed=1, progressed_at=T0 + 8, last_sync_at=T0 + 8, error="orders 3: bad")
    found = combined([snapshot, stream])
    assert found is not None
    assert (found.synced, found.failed, found.retries) == (12, 1, 1)
    assert found.last_sync_at == T0 + 8
    # The stream has not found its source empty yet: behind since the snapshot was.
    assert (found.caught_up_at, found.caught_up) == (T0 + 5, False)
    assert found.error == "orders 3: bad"
    assert combined([]) is None


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
    reconciliation = reports.Reconciliation.model_validate(run.summary())
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
    assert values == {reports.annotation_key("shop-worker-0"): report.model_dump_json(by_alias=True)}


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


# The reporter, with a fake Lease.


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
    assert json.loads(client.patches[0][4][reports.annotation_key("p")])["state"] == "failed"
    assert final.error == "bad spec"


def test_a_restarted_container_carries_its_pods_counts_over() -> None:
    earlier = WorkerReport(
        pod="shop-worker-1",
        started_at=datetime(2026, 1, 1, tzinfo=UTC),
        heartbeat=datetime(2026, 1, 1, tzinfo=UTC),
        state=WorkerState.RUNNING,
        synced=250,
        failed=2,
    ).model_dump_json(by_alias=True)
    assert heartbeat.carried_over({reports.annotation_key("shop-worker-1"): earlier}, "shop-worker-1") == (250, 2)
    assert heartbeat.carried_over({reports.annotation_key("shop-worker-2"): earlier}, "shop-worker-2") == (0, 0)
    assert heartbeat.carried_over({reports.annotation_key("shop-worker-1"): "not json"}, "shop-worker-1") == (0, 0)
    assert heartbeat.carried_over(None, "shop-worker-1") == (0, 0)


def test_a_run_whose_loops_stop_coming_back_is_stuck_and_not_alive() -> None:
    fresh = Snapshot(progressed_at=T0, alive_at=T0)
    assert heartbeat.state_of(fresh, None, now=T0 + 10) is WorkerState.RUNNING
    assert heartbeat.state_of(fresh, None, now=T0 + pods.STUCK_SECONDS + 1) is WorkerState.STUCK
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
