"""Where a pipeline's cleanup stands (pure): what decides whether its deletion waits, goes on, or starts the
cleanup again.

`reports` are the reports on the pipeline's workers' Lease; the cleanup Job's pods report there too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graphsync_operator.reports import MISSED_BEATS, WorkerReport, WorkerState


class CleanupState(enum.StrEnum):
    # Workers still report: one running would recreate what the cleanup removes.
    WORKERS_RUNNING = "workersRunning"
    NOT_STARTED = "notStarted"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


# While the deletion waits for one of these, a user is told why now and then.
WAITING = (CleanupState.WORKERS_RUNNING, CleanupState.NOT_STARTED, CleanupState.RUNNING)


@dataclass(frozen=True)
class CleanupProgress:
    state: CleanupState
    # Why it failed (FAILED only).
    why: str | None = None

    def __str__(self) -> str:
        """As events and retries say it: the state, or `failed: <why>`."""
        return f"{self.state}: {self.why}" if self.why else str(self.state)


def cleanup_progress(
    reports: Sequence[WorkerReport],
    job: str,
    now: datetime,
    heartbeat_seconds: float,
    job_status: Mapping[str, Any] | None = None,
) -> CleanupProgress:
    """Where the cleanup by Job `job` stands. `job_status` is that Job's status: a Job that failed without a pod
    ever reporting (it could not start, or ran past its deadline) has failed too."""
    horizon = now - timedelta(seconds=heartbeat_seconds * MISSED_BEATS)
    busy = (WorkerState.STARTING, WorkerState.RUNNING, WorkerState.RETRYING)
    cleaners = [r for r in reports if r.pod.startswith(f"{job}-")]
    workers = [r for r in reports if r not in cleaners]
    if any(r.state in busy and r.heartbeat >= horizon for r in workers):
        return CleanupProgress(CleanupState.WORKERS_RUNNING)
    failed = _failed_condition(job_status or {})
    if failed is not None and not any(r.state is WorkerState.FINISHED for r in cleaners):
        why = f"the Job failed ({failed.get('reason', 'Failed')}): {failed.get('message', '')}".rstrip(": ")
        return CleanupProgress(CleanupState.FAILED, why)
    if not cleaners:
        return CleanupProgress(CleanupState.NOT_STARTED)
    newest = max(cleaners, key=lambda r: r.heartbeat)
    if newest.state is WorkerState.FINISHED:
        return CleanupProgress(CleanupState.DONE)
    if newest.state is WorkerState.FAILED or newest.heartbeat < horizon:
        return CleanupProgress(CleanupState.FAILED, newest.error or "the cleanup pod stopped reporting")
    return CleanupProgress(CleanupState.RUNNING)


def _failed_condition(job_status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    conditions = job_status.get("conditions", [])
    return next((c for c in conditions if c.get("type") == "Failed" and c.get("status") == "True"), None)
