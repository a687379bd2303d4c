"""What the status tests share: a fixed clock, a worker's report, an observation, and the conditions they make.

The status decisions' tests are split by subject; each builds its observation of a
pipeline the same way, with defaults for everything it does not care about.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from graphsync_operator.api.status import Condition, SyncPipelineStatus
from graphsync_operator.controller.assess import Observed
from graphsync_operator.reports import MISSED_BEATS, WorkerReport, WorkerState

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
    return WorkerReport(**{"pod": pod, "started_at": STARTED, "heartbeat": at - age, "state": state, **fields})


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
