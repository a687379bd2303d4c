"""Status decisions: from what the operator observed to the status and conditions a user reads (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphsync_operator.assess import (
    START_GRACE,
    Observed,
    Problem,
    last_reconciliation,
    pipeline_status,
    transitions,
)
from graphsync_operator.progress import (
    GONE_AFTER,
    KEEP_GONE,
    MISSED_BEATS,
    Reconciliation,
    WorkerReport,
    WorkerState,
    retire,
)
from graphsync_operator.status import Condition, Phase, SyncPipelineStatus

NOW = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
STARTED = NOW - timedelta(hours=1)
HEARTBEAT = 10.0
STALE_AFTER = timedelta(seconds=HEARTBEAT * MISSED_BEATS)


def report(
    pod: str = "shop-worker-7d9f-abcde",
    state: WorkerState = WorkerState.RUNNING,
    age: timedelta = timedelta(seconds=5),
    at: datetime = NOW,
    **fields: Any,
) -> WorkerReport:
    """A report sent `age` before `at` (the time the status is computed)."""
    return WorkerReport(pod=pod, started_at=STARTED, heartbeat=at - age, state=state, **fields)


def observed(**fields: Any) -> Observed:
    base: dict[str, Any] = {
        "generation": 3,
        "now": NOW,
        "desired": 1,
        "ready_pods": 1,
        "applied_at": NOW - timedelta(minutes=1),
        "heartbeat_seconds": HEARTBEAT,
    }
    return Observed(**{**base, **fields})


def conditions(status: SyncPipelineStatus) -> dict[str, Condition]:
    found = {c.type: c for c in status.conditions}
    assert len(found) == len(status.conditions), "one condition per type"
    return found


def verdict(status: SyncPipelineStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in status.conditions}


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


# --- silent and failing workers ----------------------------------------------------------------------------


def test_a_worker_that_stopped_reporting_is_silent() -> None:
    age = STALE_AFTER + timedelta(seconds=15)
    status = pipeline_status(observed(reports=[report("shop-worker-x", age=age, lag_seconds=0.0)]))
    assert verdict(status)["Ready"] == ("False", "WorkerSilent")
    degraded = conditions(status)["Degraded"]
    assert (degraded.status, degraded.reason) == ("True", "WorkerSilent")
    assert "shop-worker-x" in degraded.message
    assert "last reported at 2024-05-01T11:59:15Z" in degraded.message
    assert status.phase is Phase.DEGRADED
    assert status.workers == "0/1"
    # A silent worker's lag is not believed: there is no live report.
    assert verdict(status)["InSync"] == ("Unknown", "NoReports")
    assert status.lag_seconds is None


def test_a_report_just_inside_the_missed_beats_is_live() -> None:
    status = pipeline_status(observed(reports=[report(age=STALE_AFTER)]))
    assert verdict(status)["Ready"] == ("True", "Syncing")
    late = pipeline_status(observed(reports=[report(age=STALE_AFTER + timedelta(seconds=1))]))
    assert verdict(late)["Ready"] == ("False", "WorkerSilent")


def test_the_silence_window_follows_the_heartbeat() -> None:
    age = timedelta(seconds=45)
    assert verdict(pipeline_status(observed(reports=[report(age=age)])))["Ready"][1] == "WorkerSilent"
    slow = observed(reports=[report(age=age)], heartbeat_seconds=20.0)
    assert verdict(pipeline_status(slow))["Ready"] == ("True", "Syncing")


def test_a_retrying_worker_means_the_data_plane_is_unavailable() -> None:
    error = "connection to db.example:5432 refused"
    status = pipeline_status(observed(reports=[report(state=WorkerState.RETRYING, error=error, retries=4)]))
    degraded = conditions(status)["Degraded"]
    assert (degraded.status, degraded.reason) == ("True", "DataPlaneUnavailable")
    assert error in degraded.message
    assert verdict(status)["Ready"] == ("False", "DataPlaneUnavailable")
    assert error in conditions(status)["Ready"].message
    assert status.phase is Phase.DEGRADED
    # The Deployment says the pod is ready; the worker's own report is the truth.
    assert status.workers == "0/1"


def test_a_failed_worker() -> None:
    status = pipeline_status(
        observed(reports=[report("p", state=WorkerState.FAILED, error="mappings: table shop.customer is gone")])
    )
    assert verdict(status)["Degraded"] == ("True", "WorkerFailed")
    assert verdict(status)["Ready"] == ("False", "WorkerFailed")
    assert "shop.customer is gone" in conditions(status)["Degraded"].message
    assert status.phase is Phase.DEGRADED


def test_a_failure_outweighs_a_retry() -> None:
    reports = [
        report("a", state=WorkerState.RETRYING, error="timeout"),
        report("b", state=WorkerState.FAILED, error="fatal"),
    ]
    degraded = conditions(pipeline_status(observed(desired=2, ready_pods=2, reports=reports)))["Degraded"]
    assert degraded.reason == "WorkerFailed"
    assert "worker b: fatal" in degraded.message


def test_a_retrying_worker_without_an_error_names_its_state() -> None:
    degraded = conditions(pipeline_status(observed(reports=[report("p", state=WorkerState.RETRYING)])))["Degraded"]
    assert degraded.message == "worker p: retrying"


def test_an_old_failure_that_went_silent_is_reported_as_silence() -> None:
    old = report("p", state=WorkerState.FAILED, error="boom", age=STALE_AFTER + timedelta(minutes=1))
    assert verdict(pipeline_status(observed(reports=[old])))["Degraded"] == ("True", "WorkerSilent")


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
    message = "spec.batchSize: Input should be less than or equal to 50000"
    status = pipeline_status(observed(problem=Problem("InvalidSpec", message, permanent=True), reports=[report()]))
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
    status = pipeline_status(observed(problem=Problem("SecretMissing", message), ready_pods=0))
    assert status.phase is Phase.PENDING
    assert verdict(status)["Stalled"] == ("True", "SecretMissing")
    assert verdict(status)["Ready"] == ("False", "SecretMissing")
    assert conditions(status)["Stalled"].message == message


def test_a_problem_outweighs_suspension() -> None:
    status = pipeline_status(observed(suspended=True, problem=Problem("InvalidSpec", "bad", permanent=True)))
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


# --- lastTransitionTime ------------------------------------------------------------------------------------


def test_last_transition_time_is_kept_while_a_status_holds() -> None:
    first = pipeline_status(observed(reports=[report()]))
    later = NOW + timedelta(minutes=7)
    second = pipeline_status(
        observed(now=later, generation=4, reports=[report(at=later)], previous=tuple(first.conditions))
    )
    for condition in second.conditions:
        assert condition.last_transition_time == NOW, condition.type
        assert condition.observed_generation == 4


def test_last_transition_time_moves_when_a_status_changes() -> None:
    first = pipeline_status(observed(reports=[report()]))
    later = NOW + timedelta(minutes=7)
    failing = report(state=WorkerState.RETRYING, error="down", at=later)
    second = pipeline_status(observed(now=later, reports=[failing], previous=tuple(first.conditions)))
    found = conditions(second)
    assert found["Ready"].status == "False"
    assert found["Ready"].last_transition_time == later
    assert found["Degraded"].status == "True"
    assert found["Degraded"].last_transition_time == later
    # A broken data plane is Stalled for kstatus (Flux and Argo CD report it failed, not current).
    assert (found["Stalled"].status, found["Stalled"].reason) == ("True", "DataPlaneUnavailable")
    assert found["Stalled"].last_transition_time == later
    # Unchanged ones keep theirs.
    assert found["Reconciling"].last_transition_time == NOW


def test_a_reason_change_alone_keeps_the_transition_time() -> None:
    waiting = pipeline_status(observed(ready_pods=0))
    later = NOW + timedelta(minutes=1)
    rolling = pipeline_status(observed(now=later, rolled_out=False, previous=tuple(waiting.conditions)))
    ready = conditions(rolling)["Ready"]
    assert (ready.status, ready.reason) == ("False", "RollingOut")
    assert ready.last_transition_time == NOW


def test_a_condition_new_to_the_status_starts_now() -> None:
    previous = (Condition(type="Ready", status="True", reason="Syncing", last_transition_time=NOW),)
    later = NOW + timedelta(hours=1)
    status = pipeline_status(observed(now=later, reports=[report(at=later)], previous=previous))
    found = conditions(status)
    assert found["Ready"].last_transition_time == NOW
    assert found["Degraded"].last_transition_time == later


# --- events ------------------------------------------------------------------------------------------------


def cond(kind: str, status: str, reason: str, message: str = "") -> Condition:
    return Condition(type=kind, status=status, reason=reason, message=message, last_transition_time=NOW)


def test_losing_ready_is_a_warning() -> None:
    before = [cond("Ready", "True", "Syncing")]
    after = [cond("Ready", "False", "WorkerSilent", "worker p last reported 45s ago")]
    assert transitions(before, after) == [("Warning", "WorkerSilent", "worker p last reported 45s ago")]


def test_becoming_ready_is_normal() -> None:
    before = [cond("Ready", "False", "WaitingForWorkers", "0/1 workers running")]
    after = [cond("Ready", "True", "Syncing", "1 worker(s) running")]
    assert transitions(before, after) == [("Normal", "Syncing", "1 worker(s) running")]


def test_no_change_no_event() -> None:
    same = [cond("Ready", "True", "Syncing", "1"), cond("Degraded", "False", "AsExpected")]
    assert transitions(same, [c.model_copy() for c in same]) == []


def test_only_ready_and_degraded_make_events() -> None:
    before = [cond("InSync", "True", "CaughtUp"), cond("Stalled", "False", "Running")]
    after = [cond("InSync", "False", "Behind"), cond("Stalled", "True", "SecretMissing")]
    assert transitions(before, after) == []


def test_degraded_events() -> None:
    before = [cond("Degraded", "False", "AsExpected")]
    after = [cond("Degraded", "True", "DataPlaneUnavailable", "worker p: down")]
    assert transitions(before, after) == [("Warning", "DataPlaneUnavailable", "worker p: down")]
    # Recovering is normal; without a message the event names the condition.
    assert transitions(after, before) == [("Normal", "AsExpected", "Degraded")]


def test_a_new_reason_with_the_same_status_is_an_event() -> None:
    before = [cond("Ready", "False", "WaitingForWorkers")]
    after = [cond("Ready", "False", "WorkerFailed", "worker p: boom")]
    assert transitions(before, after) == [("Warning", "WorkerFailed", "worker p: boom")]


def test_events_from_computed_statuses() -> None:
    healthy = pipeline_status(observed(reports=[report()]))
    later = NOW + timedelta(minutes=2)
    silent = pipeline_status(observed(now=later, reports=[report()], previous=tuple(healthy.conditions)))
    events = transitions(healthy.conditions, silent.conditions)
    assert ("Warning", "WorkerSilent") in [(kind, reason) for kind, reason, _ in events]
    assert all(kind == "Warning" for kind, _, _ in events)
    recovered = pipeline_status(observed(now=later, reports=[report(at=later)], previous=tuple(silent.conditions)))
    assert {(kind, reason) for kind, reason, _ in transitions(silent.conditions, recovered.conditions)} == {
        ("Normal", "Syncing"),
        ("Normal", "AsExpected"),
    }


# --- reconciliation runs -----------------------------------------------------------------------------------


def run(started: datetime, outcome: str = "inSync", **fields: Any) -> WorkerReport:
    summary = Reconciliation(
        id=f"run-{started:%H%M}",
        action="report",
        outcome=outcome,
        started_at=started,
        finished_at=started + timedelta(minutes=3),
        **fields,
    )
    return report(f"pod-{started:%H%M}", state=WorkerState.FINISHED, reconciliation=summary)


def test_the_newest_run_across_jobs_is_the_last_reconciliation() -> None:
    runs = [
        ("nightly", run(NOW - timedelta(hours=10), compared=100)),
        ("hourly", run(NOW - timedelta(minutes=30), outcome="repaired", compared=5, different=2, repaired=2)),
        ("nightly", run(NOW - timedelta(hours=2), compared=90)),
        ("hourly", report("no-summary-yet")),
    ]
    found = last_reconciliation(runs)
    assert found is not None
    assert found.name == "hourly"
    assert found.outcome == "repaired"
    assert found.started_at == NOW - timedelta(minutes=30)
    assert found.finished_at == NOW - timedelta(minutes=27)
    assert (found.compared, found.different, found.repaired) == (5, 2, 2)


def test_no_reconciliation_yet() -> None:
    assert last_reconciliation([]) is None
    assert last_reconciliation([("nightly", report())]) is None


def test_the_status_carries_the_last_reconciliation() -> None:
    runs = [("nightly", run(NOW - timedelta(hours=1), missing=3))]
    status = pipeline_status(observed(reports=[report()], reconciliations=runs))
    assert status.last_reconciliation is not None
    assert status.last_reconciliation.name == "nightly"
    assert status.last_reconciliation.missing == 3
    # Reconciliation runs are not the pipeline's workers.
    assert status.workers == "1/1"


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


def test_a_stuck_worker_degrades_the_pipeline() -> None:
    stuck = WorkerReport(
        pod="shop-worker-1",
        started_at=NOW,
        heartbeat=NOW,
        state=WorkerState.STUCK,
        error="no read or write has come back for 400s",
    )
    status = pipeline_status(Observed(generation=1, now=NOW, desired=1, ready_pods=1, reports=[stuck]))
    found = conditions(status)
    assert (found["Ready"].status, found["Ready"].reason) == ("False", "WorkerStuck")
    assert (found["Stalled"].status, found["Degraded"].status) == ("True", "True")
    assert "400s" in found["Degraded"].message
