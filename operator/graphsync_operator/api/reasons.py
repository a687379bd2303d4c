"""Every reason the operator can set on a condition: one set, each member documented in docs/operations/troubleshoot.md.

A member's value is what `kubectl describe` shows and what alerts and scripts match on, so it never changes;
tests/unit/test_docs_reasons.py checks that each has its entry in the docs and that no condition is given a
reason outside this set.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from graphsync.reconcile.report import Outcome


class Reason(enum.StrEnum):
    # What stops a resource (Ready=False, Stalled=True), found by a spec handler before it writes anything.
    INVALID_SPEC = "InvalidSpec"
    SECRET_MISSING = "SecretMissing"  # noqa: S105 - a reason's name, not a password
    POLICY_MISSING = "PolicyMissing"
    # The ConflictPolicy a pipeline refers to is itself invalid.
    POLICY_INVALID = "PolicyInvalid"
    PIPELINE_MISSING = "PipelineMissing"
    # A ReconciliationJob's pipeline (or that pipeline's policy) is invalid.
    PIPELINE_INVALID = "PipelineInvalid"
    # A child's name is held by an object the resource does not own.
    NAME_TAKEN = "NameTaken"

    # The data plane, from the workers' own reports (Degraded=True).
    # A worker retries its source or target with backoff.
    DATA_PLANE_UNAVAILABLE = "DataPlaneUnavailable"
    # A call of the worker's has not come back for workers.stuckAfterSeconds.
    WORKER_STUCK = "WorkerStuck"
    WORKER_FAILED = "WorkerFailed"
    # A worker stopped reporting for 3 heartbeats.
    WORKER_SILENT = "WorkerSilent"
    # Fewer workers than desired reported within the start grace after a rollout.
    WORKERS_NOT_REPORTING = "WorkersNotReporting"
    # A mapped table's columns changed and the pipeline stopped reading until a person accepts them.
    SCHEMA_CHANGED = "SchemaChanged"
    # A logical-capture slot holds more WAL than source.postgres.slotBacklogLimitBytes.
    SLOT_BACKLOG = "SlotBacklog"
    ITEMS_DEAD_LETTERED = "ItemsDeadLettered"
    # A scheduled pipeline's last run failed or stopped reporting.
    LAST_RUN_FAILED = "LastRunFailed"
    # A ReconciliationJob's last run failed or ended partial.
    RUN_FAILED = "RunFailed"
    # Degraded=False.
    AS_EXPECTED = "AsExpected"

    # Running and waiting.
    SYNCING = "Syncing"
    SCHEDULED = "Scheduled"
    SUSPENDED = "Suspended"
    SCALED_TO_ZERO = "ScaledToZero"
    ROLLING_OUT = "RollingOut"
    WAITING_FOR_WORKERS = "WaitingForWorkers"
    # Reconciling=False: the operator has acted on the current generation.
    RECONCILED = "Reconciled"
    # Stalled=False.
    RUNNING = "Running"
    # A ConflictPolicy's Ready=True and Stalled=False.
    VALID = "Valid"

    # Whether the target holds the source (InSync).
    CAUGHT_UP = "CaughtUp"
    BEHIND = "Behind"
    NO_REPORTS = "NoReports"
    # The workers of this mode do not report a lag.
    UNKNOWN = "Unknown"
    NO_RUN_YET = "NoRunYet"
    # A ReconciliationJob's last run found the target equal to the source.
    IN_SYNC = "InSync"
    # A ReconciliationJob's last run found differences and repaired every one.
    REPAIRED = "Repaired"
    # A ReconciliationJob's last run found differences it did not repair (action: report).
    DRIFT = "Drift"


# A ReconciliationJob's InSync reason from its newest finished run's outcome.
OUTCOMES: Mapping[str, Reason] = {
    Outcome.IN_SYNC: Reason.IN_SYNC,
    Outcome.REPAIRED: Reason.REPAIRED,
    Outcome.DRIFT: Reason.DRIFT,
}


def of_outcome(outcome: str) -> Reason:
    """The InSync reason of a run that ended `outcome` (pure): failed, partial or one this operator does not know
    ended without telling whether the target holds the source, so RunFailed."""
    return OUTCOMES.get(outcome, Reason.RUN_FAILED)
