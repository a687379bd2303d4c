"""Where a pipeline's cleanup stands, from the reports on its Lease and its Job's status: what decides
whether a deletion waits, goes on, or starts the cleanup again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.build import children, workloads
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from graphsync_operator.controller.cleanup import cleanup_progress
from graphsync_operator.reports import WorkerReport, WorkerState
from tests.resources import shop_spec

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
JOB = "shop-cleanup"


def report(pod: str, state: WorkerState, age: float = 1, error: str | None = None) -> WorkerReport:
    moment = NOW - timedelta(seconds=age)
    return WorkerReport(pod=pod, started_at=moment, heartbeat=moment, state=state, error=error)


def verdict(reports: list[WorkerReport], job_status: dict[str, Any] | None = None) -> str:
    return str(cleanup_progress(reports, JOB, NOW, 10, job_status))


FAILED_JOB = {
    "conditions": [
        {"type": "FailureTarget", "status": "True", "reason": "DeadlineExceeded"},
        {
            "type": "Failed",
            "status": "True",
            "reason": "DeadlineExceeded",
            "message": "Job was active longer than specified deadline",
        },
    ]
}


def test_the_cleanup_waits_for_workers_still_reporting() -> None:
    assert verdict([report("shop-worker-1", WorkerState.RUNNING)]) == "workersRunning"
    # Silent for longer than three heartbeats: gone, whatever it said last.
    assert verdict([report("shop-worker-1", WorkerState.RUNNING, age=31)]) == "notStarted"
    assert verdict([report("shop-worker-1", WorkerState.FINISHED)]) == "notStarted"


def test_the_cleanup_pods_reports_say_running_done_or_failed() -> None:
    assert verdict([report(f"{JOB}-x1", WorkerState.RUNNING)]) == "running"
    assert verdict([report(f"{JOB}-x1", WorkerState.FINISHED)]) == "done"
    failed = report(f"{JOB}-x1", WorkerState.FAILED, error="neo4j: refused")
    assert verdict([failed]) == "failed: neo4j: refused"
    assert verdict([report(f"{JOB}-x1", WorkerState.RUNNING, age=31)]) == "failed: the cleanup pod stopped reporting"
    # The newest pod of the Job decides: a retry that finished after a failure is done.
    later = report(f"{JOB}-x2", WorkerState.FINISHED, age=0)
    assert verdict([report(f"{JOB}-x1", WorkerState.FAILED, age=5), later]) == "done"


def test_a_job_that_failed_without_a_report_fails_the_cleanup_with_the_jobs_reason() -> None:
    # Its pod never started (or hung past the deadline): nothing reported, the Job says why.
    assert verdict([], FAILED_JOB) == (
        "failed: the Job failed (DeadlineExceeded): Job was active longer than specified deadline"
    )
    assert verdict([report(f"{JOB}-x1", WorkerState.RUNNING)], FAILED_JOB).startswith("failed: the Job failed")
    # A pod that finished is done, whatever happened to the Job afterwards.
    assert verdict([report(f"{JOB}-x1", WorkerState.FINISHED)], FAILED_JOB) == "done"
    assert verdict([], {"conditions": [{"type": "Failed", "status": "False"}]}) == "notStarted"


def test_the_cleanup_job_has_a_deadline() -> None:
    owner = Owner(kind="SyncPipeline", name="shop", namespace="shop", uid="u-1")
    spec = SyncPipelineSpec.model_validate({**shop_spec(), "name": "shop", "deletionPolicy": "cleanup"})
    job = children.cleanup(owner, spec, Defaults(image="i"))
    assert job["spec"]["activeDeadlineSeconds"] == workloads.CLEANUP_DEADLINE_SECONDS
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
