"""A pipeline's status from what the operator observed: healthy, starting up, stalled, suspended, scheduled (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from graphsync.runner.stats import RunStats
from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.status import BackfillStatus, Phase, SyncPipelineStatus
from graphsync_operator.controller.assess import START_GRACE, Observed, Problem, pipeline_status
from graphsync_operator.reports import GONE_AFTER, KEEP_GONE, WorkerReport, WorkerState, retire
from graphsync_operator.worker.heartbeat import Tracker, report_of
from tests.unit.assess_data import NOW, conditions, observed, report, verdict

# --- a healthy pipeline ------------------------------------------------------------------------------------


def test_running_workers_that_report_make_a_ready_pipeline() -> None:
    status = pipeline_status(observed(reports=[report(lag_seconds=0.0, synced=40, failed=1)]))
    assert verdict(status) == {
        "Ready": ("True", "Syncing"),
        "Reconciling": ("False", "Reconciled"),
        "Stalled": ("False", "Running"),
        "Degraded": ("False", "AsExpected"),
        "InSync": ("True", "CaughtUp"),
    }
    assert status.phase is Phase.RUNNING
    assert status.workers == "1/1"
    assert status.ready_workers == 1
    assert status.desired_workers == 1
    assert status.observed_generation == 3
    assert status.items_synced == 40
    assert status.items_failed == 1
    assert status.lag_seconds == 0.0
    assert conditions(status)["Ready"].message == "1 worker(s) running"


def test_every_condition_records_the_generation_and_when() -> None:
    status = pipeline_status(observed(reports=[report(lag_seconds=0.0)]))
    for condition in status.conditions:
        assert condition.observed_generation == 3
        assert condition.last_transition_time == NOW
    assert [c.type for c in status.conditions] == ["Ready", "Reconciling", "Stalled", "Degraded", "InSync"]


def test_counts_are_summed_and_the_lag_is_the_slowest_workers() -> None:
    reports = [
        report("shop-worker-a", synced=100, failed=2, lag_seconds=0.0, open_conflicts=1),
        report("shop-worker-b", synced=50, failed=3, lag_seconds=12.0, open_conflicts=4),
    ]
    status = pipeline_status(observed(desired=2, ready_pods=2, reports=reports))
    assert status.workers == "2/2"
    assert status.items_synced == 150
    assert status.items_failed == 5
    assert status.open_conflicts == 5
    assert status.lag_seconds == 12.0
    in_sync = conditions(status)["InSync"]
    assert (in_sync.status, in_sync.reason) == ("False", "Behind")
    assert "12s" in in_sync.message
    # Behind is not unhealthy: the pipeline is still Ready.
    assert conditions(status)["Ready"].status == "True"


def test_in_sync_is_unknown_when_no_worker_reports_a_lag() -> None:
    status = pipeline_status(observed(reports=[report()]))
    assert verdict(status)["InSync"] == ("Unknown", "Unknown")
    assert status.lag_seconds is None
    assert status.open_conflicts is None


def test_checkpoint_and_last_sync_time_come_from_the_reports() -> None:
    synced_at = NOW - timedelta(seconds=20)
    reports = [
        report("a", checkpoint="0/16B3748", last_sync_time=synced_at),
        report("b", last_sync_time=synced_at - timedelta(minutes=1)),
    ]
    status = pipeline_status(observed(desired=2, ready_pods=2, reports=reports))
    assert status.checkpoint == "0/16B3748"
    assert status.last_sync_time == synced_at


def test_the_ready_count_is_capped_by_what_the_deployment_calls_ready() -> None:
    # The worker reports running, but the cluster does not yet count its pod ready.
    status = pipeline_status(observed(ready_pods=0, reports=[report()]))
    assert status.workers == "0/1"
    assert conditions(status)["Ready"].status == "False"
    assert verdict(status)["Reconciling"] == ("True", "WaitingForWorkers")


def test_fewer_running_workers_than_desired_is_not_ready() -> None:
    status = pipeline_status(observed(desired=2, ready_pods=2, reports=[report()]))
    assert status.workers == "1/2"
    assert verdict(status)["Ready"] == ("False", "WaitingForWorkers")


def test_a_replaced_pods_last_report_does_not_degrade_a_healthy_pipeline() -> None:
    reports = [report("old-pod", age=timedelta(minutes=10)), report("new-pod")]
    status = pipeline_status(observed(reports=reports))
    assert verdict(status)["Ready"] == ("True", "Syncing")
    assert verdict(status)["Degraded"] == ("False", "AsExpected")


def test_passthrough_fields() -> None:
    status = pipeline_status(
        observed(reports=[report()], source="postgres", target="neo4j", config_hash="0123456789abcdef")
    )
    assert (status.source, status.target, status.config_hash) == ("postgres", "neo4j", "0123456789abcdef")
    dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    assert dumped["observedGeneration"] == 3
    assert dumped["configHash"] == "0123456789abcdef"
    assert dumped["conditions"][0]["lastTransitionTime"].startswith("2024-05-01T12:00:00")


# --- starting up -------------------------------------------------------------------------------------------


def test_no_reports_yet_is_a_start_up() -> None:
    status = pipeline_status(observed(ready_pods=0))
    assert verdict(status) == {
        "Ready": ("False", "WaitingForWorkers"),
        "Reconciling": ("True", "WaitingForWorkers"),
        "Stalled": ("False", "Running"),
        "Degraded": ("False", "AsExpected"),
        "InSync": ("Unknown", "NoReports"),
    }
    assert status.phase is Phase.PENDING
    assert status.workers == "0/1"
    assert status.items_synced == 0


def test_no_reports_and_nothing_applied_yet_is_a_start_up() -> None:
    status = pipeline_status(observed(ready_pods=0, applied_at=None))
    assert verdict(status)["Reconciling"] == ("True", "WaitingForWorkers")


def test_workers_not_reporting_after_the_grace() -> None:
    status = pipeline_status(observed(applied_at=NOW - START_GRACE - timedelta(seconds=1)))
    degraded = conditions(status)["Degraded"]
    assert (degraded.status, degraded.reason) == ("True", "WorkersNotReporting")
    assert degraded.message == "0/1 workers reported within 5 minutes"
    assert verdict(status)["Ready"] == ("False", "WorkersNotReporting")
    assert verdict(status)["Reconciling"] == ("False", "Reconciled")
    assert status.phase is Phase.DEGRADED


def test_still_within_the_grace() -> None:
    status = pipeline_status(observed(applied_at=NOW - START_GRACE))
    assert verdict(status)["Degraded"] == ("False", "AsExpected")
    assert verdict(status)["Reconciling"] == ("True", "WaitingForWorkers")


def test_a_rollout_in_progress_is_reconciling() -> None:
    status = pipeline_status(observed(rolled_out=False, reports=[report()]))
    assert verdict(status)["Reconciling"] == ("True", "RollingOut")
    assert verdict(status)["Ready"] == ("False", "RollingOut")
    assert verdict(status)["Degraded"] == ("False", "AsExpected")
    assert status.phase is Phase.PENDING


# --- problems ----------------------------------------------------------------------------------------------


def test_an_invalid_spec_stalls_the_pipeline() -> None:
    message = "spec.batchSize: must be at most 50000 (got 90000)"
    status = pipeline_status(
        observed(problem=Problem(Reason.INVALID_SPEC, message, permanent=True), reports=[report()])
    )
    assert verdict(status) == {
        "Ready": ("False", "InvalidSpec"),
        "Reconciling": ("False", "Reconciled"),
        "Stalled": ("True", "InvalidSpec"),
        "Degraded": ("False", "AsExpected"),
        "InSync": ("Unknown", "Unknown"),
    }
    assert conditions(status)["Stalled"].message == message
    assert conditions(status)["Ready"].message == message
    assert status.phase is Phase.INVALID


def test_a_missing_secret_is_pending_and_stalled() -> None:
    message = "spec.source.postgres.password.secretKeyRef: Secret 'shop-db' does not exist"
    status = pipeline_status(observed(problem=Problem(Reason.SECRET_MISSING, message), ready_pods=0))
    assert status.phase is Phase.PENDING
    assert verdict(status)["Stalled"] == ("True", "SecretMissing")
    assert verdict(status)["Ready"] == ("False", "SecretMissing")
    assert conditions(status)["Stalled"].message == message


def test_a_problem_outweighs_suspension() -> None:
    status = pipeline_status(observed(suspended=True, problem=Problem(Reason.INVALID_SPEC, "bad", permanent=True)))
    assert status.phase is Phase.INVALID


# --- suspended, scaled to zero, scheduled ------------------------------------------------------------------


def test_a_suspended_pipeline_is_ready_and_suspended() -> None:
    status = pipeline_status(observed(suspended=True, desired=0, ready_pods=0))
    assert verdict(status)["Ready"] == ("True", "Suspended")
    assert verdict(status)["Degraded"] == ("False", "AsExpected")
    assert verdict(status)["Reconciling"] == ("False", "Reconciled")
    assert status.phase is Phase.SUSPENDED
    assert status.workers == "0/0"


def test_zero_replicas_is_ready_and_suspended() -> None:
    status = pipeline_status(observed(desired=0, ready_pods=0))
    assert verdict(status)["Ready"] == ("True", "ScaledToZero")
    assert status.phase is Phase.SUSPENDED


def test_a_scheduled_pipeline_between_runs() -> None:
    status = pipeline_status(observed(scheduled=True, ready_pods=0, applied_at=NOW - timedelta(hours=2)))
    assert verdict(status)["Ready"] == ("True", "Scheduled")
    assert verdict(status)["Degraded"] == ("False", "AsExpected")
    assert status.phase is Phase.SCHEDULED


def test_a_scheduled_run_counts_the_workers_that_report() -> None:
    # CronJob pods are not counted by a Deployment: a scheduled pipeline counts the reports.
    status = pipeline_status(observed(scheduled=True, ready_pods=0, reports=[report(state=WorkerState.FINISHED)]))
    assert status.phase is Phase.SCHEDULED
    assert status.workers == "1/1"


def test_a_scheduled_run_that_is_retrying_degrades_the_pipeline() -> None:
    status = pipeline_status(observed(scheduled=True, reports=[report(state=WorkerState.RETRYING, error="down")]))
    assert status.phase is Phase.DEGRADED
    assert verdict(status)["Degraded"] == ("True", "DataPlaneUnavailable")


# --- writing the status ------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", list(WorkerState))
def test_every_state_gives_valid_conditions(state: WorkerState) -> None:
    status = pipeline_status(observed(reports=[report(state=state)]))
    # Round-trips through the model: reasons and statuses match the CRD's patterns.
    again = SyncPipelineStatus.model_validate(status.model_dump(mode="json", by_alias=True))
    assert again == status


def test_reports_of_pods_long_gone_fold_into_one_retired_total() -> None:
    now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    old = [
        WorkerReport(
            pod=f"run-{i}",
            started_at=now - GONE_AFTER - timedelta(minutes=100 - i),
            heartbeat=now - GONE_AFTER - timedelta(minutes=90 - i),
            state=WorkerState.FINISHED,
            synced=10,
            failed=1,
        )
        for i in range(KEEP_GONE + 3)
    ]
    fresh = WorkerReport(pod="run-now", started_at=now, heartbeat=now, state=WorkerState.RUNNING, synced=5)
    pods, retired = retire([*old, fresh], now)
    assert pods == ["run-0", "run-1", "run-2"]  # the oldest; the newest KEEP_GONE stay as they are
    assert retired is not None
    assert (retired.state, retired.synced, retired.failed) == (WorkerState.RETIRED, 30, 3)
    # Folding again adds to the earlier total, and the status counts stay what they were.
    again, total = retire([retired, *old[3:], *old[:3]], now)
    assert again == ["run-0", "run-1", "run-2"]
    assert total is not None
    assert total.synced == 60
    assert retire([*old[:KEEP_GONE], fresh], now) == ([], None)
    status = pipeline_status(
        Observed(generation=1, now=now, desired=1, ready_pods=1, reports=[retired, *old[3:], fresh])
    )
    assert status.items_synced == 30 + 10 * KEEP_GONE + 5
    assert conditions(status)["Ready"].status == "True"


def test_the_status_lists_the_newest_runs_of_the_workers_newest_first() -> None:
    """One run per pod's report: scheduled runs that finished or failed say when, the running one does not."""
    runs = [
        report(
            pod=f"shop-sync-{hour}", state=WorkerState.FINISHED, synced=100 * hour, started_at=NOW.replace(hour=hour)
        )
        for hour in range(1, 8)
    ]
    failed = report(pod="shop-sync-9", state=WorkerState.FAILED, error="OSError: full", started_at=NOW.replace(hour=9))
    running = report(pod="shop-sync-10", synced=3, started_at=NOW.replace(hour=10))
    retired = report(pod="(retired)", state=WorkerState.RETIRED, synced=5000, started_at=NOW.replace(hour=11))
    status = pipeline_status(observed(scheduled=True, reports=[*runs, failed, running, retired]))
    assert [(r.pod, r.state) for r in status.recent_runs] == [
        ("shop-sync-10", "running"),
        ("shop-sync-9", "failed"),
        ("shop-sync-7", "finished"),
        ("shop-sync-6", "finished"),
        ("shop-sync-5", "finished"),
    ]
    newest, broken, finished = status.recent_runs[:3]
    assert (newest.synced, newest.finished_at) == (3, None)
    assert (broken.error, broken.finished_at) == ("OSError: full", failed.heartbeat)
    assert finished.synced == 700
    dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True)["recentRuns"][1]
    assert dumped == {
        "pod": "shop-sync-9",
        "state": "failed",
        "startedAt": "2024-05-01T09:00:00Z",
        "finishedAt": failed.heartbeat.isoformat().replace("+00:00", "Z"),
        "synced": 0,
        "failed": 0,
        "error": "OSError: full",
    }


def test_the_status_shows_the_backfills_as_the_newest_pod_telling_them_says() -> None:
    """The pod that rolled in with a new backfill tells it; the pod before it (another config) told none."""
    older = report(pod="shop-worker-a", started_at=NOW.replace(hour=1))
    rolled = report(
        pod="shop-worker-b",
        started_at=NOW.replace(hour=2),
        backfills=[
            BackfillStatus(name="first", phase="Completed", entities=["customer"], compared=9, written=2),
            BackfillStatus(name="second", phase="Running", entities=["orders"], compared=5),
        ],
    )
    status = pipeline_status(observed(reports=[older, rolled]))
    assert [(b.name, b.phase, b.written) for b in status.backfills] == [
        ("first", "Completed", 2),
        ("second", "Running", 0),
    ]
    assert pipeline_status(observed(reports=[older])).backfills == []
    dumped = status.model_dump(mode="json", by_alias=True, exclude_none=True)["backfills"][0]
    assert dumped == {
        "name": "first",
        "phase": "Completed",
        "entities": ["customer"],
        "compared": 9,
        "written": 2,
        "failed": 0,
    }


def test_a_worker_report_carries_the_backfills_its_run_told() -> None:
    tracker = Tracker()
    tracker(RunStats())
    tracker.backfills([{"name": "again", "phase": "Running", "entities": ["customer"], "compared": 3, "written": 1}])
    made = report_of(pod="p", started_at=NOW, now=NOW.timestamp(), snapshot=tracker.snapshot())
    assert [(b.name, b.phase, b.compared, b.written) for b in made.backfills] == [("again", "Running", 3, 1)]
    again = WorkerReport.model_validate_json(made.model_dump_json(by_alias=True))
    assert again.backfills == made.backfills
