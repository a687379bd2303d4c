"""Conditions over time: when their lastTransitionTime moves, and which changes become events (pure)."""

from __future__ import annotations

from datetime import timedelta

from graphsync_operator.api.status import Condition
from graphsync_operator.controller.assess import pipeline_status, transitions
from graphsync_operator.reports import WorkerState
from tests.unit.assess_data import NOW, conditions, observed, report

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
