"""The last reconciliation run a pipeline's status shows, picked from its jobs' reports (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from graphsync_operator.api.reasons import Reason
from graphsync_operator.controller.assess import last_reconciliation, pipeline_status, reconciliation_status
from graphsync_operator.reports import Reconciliation, WorkerReport, WorkerState
from tests.unit.assess_data import NOW, observed, report

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


@pytest.mark.parametrize(
    ("outcome", "in_sync", "degraded"),
    [
        ("inSync", ("True", Reason.IN_SYNC), ("False", Reason.AS_EXPECTED)),
        ("repaired", ("True", Reason.REPAIRED), ("False", Reason.AS_EXPECTED)),
        ("drift", ("False", Reason.DRIFT), ("False", Reason.AS_EXPECTED)),
        ("partial", ("False", Reason.RUN_FAILED), ("True", Reason.RUN_FAILED)),
        ("failed", ("False", Reason.RUN_FAILED), ("True", Reason.RUN_FAILED)),
    ],
)
def test_a_jobs_in_sync_follows_its_last_runs_outcome(
    outcome: str, in_sync: tuple[str, Reason], degraded: tuple[str, Reason]
) -> None:
    runs = [("nightly", run(NOW - timedelta(hours=1), outcome=outcome))]
    found = {c.type: (c.status, c.reason) for c in reconciliation_status(observed(reconciliations=runs)).conditions}
    assert (found["InSync"], found["Degraded"]) == (in_sync, degraded)


def test_a_job_without_a_finished_run_does_not_say_whether_it_is_in_sync() -> None:
    found = {c.type: (c.status, c.reason) for c in reconciliation_status(observed()).conditions}
    assert found["InSync"] == ("Unknown", Reason.NO_RUN_YET)
