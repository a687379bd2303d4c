"""Workers that went silent, retry, failed or are stuck: how each shows in the pipeline's status (pure)."""

from __future__ import annotations

from datetime import timedelta

from graphsync_operator.api.status import Phase
from graphsync_operator.controller.assess import Observed, pipeline_status
from graphsync_operator.reports import WorkerReport, WorkerState
from tests.unit.assess_data import NOW, STALE_AFTER, conditions, observed, report, verdict

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


def test_a_worker_that_finished_is_not_silent_while_its_successor_starts() -> None:
    # Paused and resumed, or rolled: the old pod said "finished" on its way out; the new one has not reported yet.
    gone = report("shop-worker-old", state=WorkerState.FINISHED, age=STALE_AFTER + timedelta(seconds=5))
    status = pipeline_status(observed(reports=[gone], ready_pods=0))
    assert verdict(status)["Ready"] == ("False", "WaitingForWorkers")
    assert conditions(status)["Degraded"].status == "False"
    assert status.phase is Phase.PENDING
    # Nor does its last word, however fresh, make the pipeline Ready while the new pod is yet to report.
    just_gone = report("shop-worker-old", state=WorkerState.FINISHED, age=timedelta(seconds=1))
    assert verdict(pipeline_status(observed(reports=[just_gone])))["Ready"] == ("False", "WaitingForWorkers")


# --- items being dead-lettered -------------------------------------------------------------------------------


def test_a_worker_dead_lettering_items_makes_the_pipeline_degraded_but_not_stalled() -> None:
    poisoned = report("p", failed=3, last_failed_time=NOW - timedelta(minutes=1))
    status = pipeline_status(observed(reports=[poisoned]))
    assert verdict(status)["Ready"] == ("True", "Syncing")
    assert verdict(status)["Degraded"] == ("True", "ItemsDeadLettered")
    message = conditions(status)["Degraded"].message
    assert "worker p dead-lettered 3 item(s), the last at 2024-05-01T11:59:00Z" in message
    assert "dlq list" in message
    # Everything else flows: kstatus must not read the pipeline as failed.
    assert verdict(status)["Stalled"][0] == "False"
    assert status.phase is Phase.DEGRADED
    assert status.items_failed == 3


def test_dead_letters_of_long_ago_leave_the_pipeline_running() -> None:
    earlier = report("p", failed=3, last_failed_time=NOW - timedelta(minutes=11))
    status = pipeline_status(observed(reports=[earlier]))
    assert verdict(status)["Degraded"][0] == "False"
    assert status.phase is Phase.RUNNING
    assert status.items_failed == 3


def test_a_scheduled_run_that_dead_lettered_items_says_so_until_the_next_run() -> None:
    last = report("run-1", state=WorkerState.FINISHED, failed=2, age=timedelta(hours=3))
    status = pipeline_status(observed(reports=[last], scheduled=True))
    assert verdict(status)["Ready"] == ("True", "Scheduled")
    assert verdict(status)["Degraded"] == ("True", "ItemsDeadLettered")
    assert "the last run (run-1) dead-lettered 2 item(s)" in conditions(status)["Degraded"].message


# --- a replication slot holding too much WAL --------------------------------------------------------------


def test_a_slot_holding_wal_past_its_limit_degrades_the_pipeline_before_the_disk_fills() -> None:
    held = report("p", source_backlog_bytes=5 * 1024**3, source_backlog_limit_bytes=4 * 1024**3)
    status = pipeline_status(observed(reports=[held]))
    assert verdict(status)["Degraded"] == ("True", "SlotBacklog")
    assert "holds more than 4096 MiB of WAL" in conditions(status)["Degraded"].message
    assert verdict(status)["InSync"] == ("False", "SlotBacklog")
    assert verdict(status)["Ready"] == ("True", "Syncing")
    assert verdict(status)["Stalled"][0] == "False"
    within = report("p", source_backlog_bytes=1024, source_backlog_limit_bytes=4 * 1024**3, lag_seconds=0.0)
    assert verdict(pipeline_status(observed(reports=[within])))["Degraded"][0] == "False"
