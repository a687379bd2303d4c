"""When the refresher does the spec handler's work: only for a spec kopf will never hand to the handler again."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphsync_operator.controller.handlers.handoff import LAST_HANDLED, Pace, stranded

SPEC = {"mode": "continuous", "batchSize": 200}
NOW = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
PROGRESS = "kopf.graphsync.io/reconcile_pipeline.spec"


def retry(delayed: datetime | None, **more: Any) -> dict[str, str]:
    """kopf's progress record of a handler that failed once and waits until `delayed`."""
    record = {"started": (NOW - timedelta(minutes=5)).isoformat(), "purpose": "update", "retries": 1, **more}
    if delayed is not None:
        record["delayed"] = delayed.isoformat()
    return {PROGRESS: json.dumps({"success": False, "failure": False, **record})}


def body(
    *,
    spec: dict[str, Any] = SPEC,
    handled: dict[str, Any] | None = SPEC,
    generation: int = 3,
    observed: int = 3,
    reason: str = "Running",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    found = {**(annotations or {})}
    if handled is not None:
        found[LAST_HANDLED] = json.dumps({"spec": handled})
    return {
        "metadata": {"uid": "u1", "generation": generation, "annotations": found},
        "spec": spec,
        "status": {"observedGeneration": observed, "conditions": [{"type": "Ready", "reason": reason}]},
    }


def test_a_spec_set_back_to_the_one_last_handled_while_a_retry_waited_is_stranded() -> None:
    # Generation 2 failed (NameTaken) and waited for a retry; generation 3 is generation 1's spec again: kopf
    # dropped the retry and will not call the handler, so the status would stay at generation 2 for good.
    assert stranded(body(generation=3, observed=2, reason="NameTaken"), NOW)
    # kopf leaves the record of the retry it will never make behind: once long overdue, it does not count.
    overdue = retry(NOW - timedelta(minutes=2))
    assert stranded(body(generation=3, observed=2, reason="NameTaken", annotations=overdue), NOW)


def test_a_problem_the_handler_retries_found_again_outside_kopf_stays_stranded() -> None:
    for reason in ("NameTaken", "SecretMissing", "PolicyMissing", "PipelineMissing"):
        assert stranded(body(reason=reason), NOW)


@pytest.mark.parametrize(
    "case",
    [
        # Handled and current: the refresher's ordinary work.
        body(),
        # An invalid spec waits for an edit, which kopf will see.
        body(reason="InvalidSpec"),
        # kopf has a change to handle: its handler will write the status.
        body(spec={**SPEC, "batchSize": 300}, generation=4),
        # kopf's retry is pending, or just due: it will come back.
        body(observed=2, reason="NameTaken", annotations=retry(NOW + timedelta(seconds=40))),
        body(observed=2, reason="NameTaken", annotations=retry(NOW - timedelta(seconds=20))),
        # A handler running its first attempt.
        body(observed=2, reason="NameTaken", annotations=retry(None)),
        # A record kopf's, if unreadable.
        body(observed=2, reason="NameTaken", annotations={PROGRESS: "{not json"}),
        # Never handled yet: kopf's create handler comes.
        body(handled=None, observed=0),
        # Not kopf's bookkeeping: other annotations do not count.
        body(annotations={"kubectl.kubernetes.io/last-applied-configuration": "{}"}),
    ],
    ids=[
        "current",
        "invalid",
        "change-pending",
        "retry-pending",
        "retry-due",
        "running",
        "unreadable-progress",
        "never-handled",
        "other-annotations",
    ],
)
def test_anything_kopf_will_still_handle_is_left_to_kopf(case: dict[str, Any]) -> None:
    assert not stranded(case, NOW)


def test_an_unreadable_last_handled_spec_is_left_to_kopf() -> None:
    case = body(observed=2)
    case["metadata"]["annotations"][LAST_HANDLED] = "{not json"
    assert not stranded(case, NOW)


def test_retries_outside_kopf_keep_kopfs_pace_and_start_again_once_settled() -> None:
    pace = Pace()
    assert pace.due("u1", 0.0)
    delays = []
    now = 0.0
    for _ in range(7):
        pace.settled("u1", now, failed=True)
        assert not pace.due("u1", now)
        due_at = pace.failures["u1"][1]
        delays.append(due_at - now)
        now = due_at
        assert pace.due("u1", now)
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert pace.due("u2", 0.0)
    pace.settled("u1", now, failed=False)
    pace.settled("u1", now, failed=True)
    assert pace.failures["u1"][1] - now == 10
