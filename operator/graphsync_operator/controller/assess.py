"""Status decisions (pure): from what the operator observed to the status and conditions a user reads.

Workers' own reports are the truth about the data plane. A Deployment can say
all its pods are ready while the worker in them cannot reach its database; so a
pipeline is Ready only when every desired worker reports, recently, that it runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from graphsync.reconcile.report import Outcome
from graphsync_operator.api import reasons
from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.status import (
    Condition,
    ConflictPolicyStatus,
    LastReconciliation,
    Phase,
    ReconciliationJobStatus,
    SyncPipelineStatus,
)
from graphsync_operator.build import names
from graphsync_operator.controller.decision import Cause, Decision, Verdict
from graphsync_operator.reports import (
    MISSED_BEATS,
    WorkerReport,
    WorkerState,
    backfills_of,
    checkpoint_resets_of,
    recent_runs,
    schema_changes_of,
)

# Workers that have not reported this long after the Deployment asked for them are a problem, not a start-up.
START_GRACE = timedelta(minutes=5)
# A worker that dead-lettered an item this recently is "dead-lettering": the pipeline runs (Ready) but is
# Degraded, so an alert on Degraded fires. Not Stalled: everything else keeps flowing.
DEAD_LETTERING = timedelta(minutes=10)
# Degraded but not Stalled: the data still flows, a person should look.
NOT_STALLING = (Reason.ITEMS_DEAD_LETTERED, Reason.SLOT_BACKLOG)


@dataclass(frozen=True)
class Problem:
    """Something the handler found that keeps the pipeline from running: InvalidSpec, SecretMissing, ..."""

    reason: Reason
    message: str
    # Permanent problems wait for a spec change; the others are retried with backoff.
    permanent: bool = False


@dataclass(frozen=True)
class Observed:
    """Everything the status is computed from."""

    generation: int
    now: datetime
    suspended: bool = False
    scheduled: bool = False
    desired: int = 0
    # From the Deployment: pods the cluster calls ready, and whether it has caught up with the latest template.
    ready_pods: int = 0
    rolled_out: bool = True
    applied_at: datetime | None = None
    reports: Sequence[WorkerReport] = ()
    heartbeat_seconds: float = 10.0
    problem: Problem | None = None
    reconciliations: Sequence[tuple[str, WorkerReport]] = ()
    source: str | None = None
    target: str | None = None
    config_hash: str | None = None
    previous: Sequence[Condition] = field(default_factory=tuple)


def live(observed: Observed) -> list[WorkerReport]:
    horizon = observed.now - timedelta(seconds=observed.heartbeat_seconds * MISSED_BEATS)
    return [report for report in current(observed) if report.heartbeat >= horizon]


def current(observed: Observed) -> list[WorkerReport]:
    """Reports of pods made for the config the pipeline has now: a pod of the old config says nothing about it."""
    if observed.config_hash is None:
        return list(observed.reports)
    return [r for r in observed.reports if r.config_hash in (None, observed.config_hash)]


def pipeline_status(observed: Observed) -> SyncPipelineStatus:
    reports = live(observed)
    # A scheduled run that finished did its work; a continuous worker that finished is gone (paused, rolled),
    # and counting its last word would call a pipeline Ready before its successor ever reported.
    done = (WorkerState.RUNNING, WorkerState.FINISHED) if observed.scheduled else (WorkerState.RUNNING,)
    healthy = [r for r in reports if r.state in done]
    decision = _decide(observed, reports, healthy)
    degraded = decision.degraded
    # kstatus reads Stalled=True as "failed": a broken data plane is that, not "current" with a false Ready.
    stalling = degraded is not None and degraded.reason not in NOT_STALLING
    problem = observed.problem or (Problem(degraded.reason, degraded.message) if degraded and stalling else None)
    lags = [r.lag_seconds for r in reports if r.lag_seconds is not None]
    conditions = [
        _verdict("Ready", decision.ready, observed),
        _flag("Reconciling", decision.reconciling, Reason.RECONCILED, observed),
        _stalled(problem, observed),
        _flag("Degraded", degraded, Reason.AS_EXPECTED, observed),
        _in_sync(observed, reports, lags),
    ]
    ready_workers = min(len(healthy), observed.ready_pods) if not observed.scheduled else len(healthy)
    return SyncPipelineStatus(
        observed_generation=observed.generation,
        phase=decision.phase,
        source=observed.source,
        target=observed.target,
        items_synced=sum(r.synced for r in observed.reports),
        items_failed=sum(r.failed for r in observed.reports),
        lag_seconds=max(lags) if lags else None,
        checkpoint=next((r.checkpoint for r in reports if r.checkpoint), None),
        last_sync_time=max((r.last_sync_time for r in observed.reports if r.last_sync_time), default=None),
        workers=f"{ready_workers}/{observed.desired}",
        ready_workers=ready_workers,
        desired_workers=observed.desired,
        open_conflicts=_sum_optional(r.open_conflicts for r in reports),
        last_reconciliation=last_reconciliation(observed.reconciliations),
        recent_runs=recent_runs(observed.reports),
        backfills=backfills_of(reports),
        checkpoint_resets=checkpoint_resets_of(reports),
        schema_changes=schema_changes_of(reports),
        config_hash=observed.config_hash,
        conditions=conditions,
    )


def _decide(  # noqa: PLR0911 - one early answer per situation reads better than nesting
    observed: Observed, reports: list[WorkerReport], healthy: list[WorkerReport]
) -> Decision:
    if observed.problem is not None:
        problem = observed.problem
        phase = Phase.INVALID if problem.permanent else Phase.PENDING
        return Decision(Verdict(False, problem.reason, problem.message), phase)
    if observed.suspended:
        return Decision(Verdict(True, Reason.SUSPENDED, "spec.suspend is true: no worker runs"), Phase.SUSPENDED)
    stopped = [c for c in schema_changes_of(reports) if c.phase == "Stopped"]
    if stopped:
        said = "; ".join(f"{c.table}: {', '.join(c.changes)}" for c in stopped)
        message = f"{said}; accept the new columns with `kubectl graphsync schema NAME --accept`"
        return Decision.failing(Cause(Reason.SCHEMA_CHANGED, message))
    retrying = [r for r in reports if r.state is WorkerState.RETRYING]
    failed = [r for r in reports if r.state in (WorkerState.FAILED, WorkerState.STUCK)]
    if retrying or failed:
        worst = (failed or retrying)[0]
        reason = {WorkerState.FAILED: Reason.WORKER_FAILED, WorkerState.STUCK: Reason.WORKER_STUCK}.get(
            worst.state, Reason.DATA_PLANE_UNAVAILABLE
        )
        return Decision.failing(Cause(reason, f"worker {worst.pod}: {worst.error or worst.state.value}"))
    if observed.scheduled:
        return _scheduled(observed, reports)
    if observed.desired == 0:
        return Decision(Verdict(True, Reason.SCALED_TO_ZERO, "workers.replicas is 0"), Phase.SUSPENDED)
    if not observed.rolled_out:
        return Decision.pending(Cause(Reason.ROLLING_OUT, "workers are moving to the new spec"))
    if len(healthy) >= observed.desired and observed.ready_pods >= observed.desired:
        return _syncing(observed, healthy)
    # A pod that said "finished" ended on purpose (paused, rolled, scaled in): its successor is awaited, not missed.
    ended = (WorkerState.RETIRED, WorkerState.FINISHED)
    silent = [r for r in current(observed) if r not in reports and r.state not in ended]
    if silent:
        newest = max(silent, key=lambda r: r.heartbeat)
        # The time, not "seconds ago": a message that changes every tick would patch the status every tick.
        message = (
            f"worker {newest.pod} last reported at {newest.heartbeat:%Y-%m-%dT%H:%M:%SZ};"
            f" {len(healthy)}/{observed.desired} running"
        )
        return Decision.failing(Cause(Reason.WORKER_SILENT, message))
    since = observed.applied_at or observed.now
    if observed.now - since > START_GRACE:
        message = f"{len(healthy)}/{observed.desired} workers reported within {START_GRACE.seconds // 60} minutes"
        return Decision.failing(Cause(Reason.WORKERS_NOT_REPORTING, message))
    return Decision.pending(Cause(Reason.WAITING_FOR_WORKERS, f"{len(healthy)}/{observed.desired} workers running"))


def _scheduled(observed: Observed, reports: list[WorkerReport]) -> Decision:
    # A scheduled run stops reporting when it ends: its last word stands until the next run.
    runs = [r for r in current(observed) if r.state is not WorkerState.RETIRED]
    newest = max(runs, key=lambda r: r.heartbeat, default=None)
    if newest is not None and newest.state is WorkerState.FAILED:
        message = f"the last run ({newest.pod}) failed: {newest.error or 'no reason given'}"
        return Decision.failing(Cause(Reason.LAST_RUN_FAILED, message))
    if newest is not None and newest.state is not WorkerState.FINISHED and newest not in reports:
        # Killed, evicted or out of memory: a run that ends never says so.
        message = f"the last run ({newest.pod}) stopped reporting at {newest.heartbeat:%Y-%m-%dT%H:%M:%SZ}"
        return Decision.failing(Cause(Reason.LAST_RUN_FAILED, message))
    scheduled = Verdict(True, Reason.SCHEDULED, "runs on its schedule")
    if newest is not None and newest.failed:
        message = f"the last run ({newest.pod}) {_dead_lettered(newest)}"
        return Decision(scheduled, Phase.DEGRADED, degraded=Cause(Reason.ITEMS_DEAD_LETTERED, message))
    return Decision(scheduled, Phase.SCHEDULED)


def _syncing(observed: Observed, healthy: list[WorkerReport]) -> Decision:
    syncing = Verdict(True, Reason.SYNCING, f"{len(healthy)} worker(s) running")
    backlog = next((r for r in healthy if _over_backlog(r)), None)
    if backlog is not None:
        return Decision(syncing, Phase.DEGRADED, degraded=Cause(Reason.SLOT_BACKLOG, _backlog_message(backlog)))
    since = observed.now - DEAD_LETTERING
    failing = [r for r in healthy if r.failed and r.last_failed_time and r.last_failed_time >= since]
    if failing:
        newest = max(failing, key=lambda r: r.last_failed_time or since)
        dead_lettered = Cause(Reason.ITEMS_DEAD_LETTERED, f"worker {newest.pod} {_dead_lettered(newest)}")
        return Decision(syncing, Phase.DEGRADED, degraded=dead_lettered)
    return Decision(syncing, Phase.RUNNING)


def _over_backlog(report: WorkerReport) -> bool:
    held, limit = report.source_backlog_bytes, report.source_backlog_limit_bytes
    return held is not None and limit is not None and held > limit


def _backlog_message(report: WorkerReport) -> str:
    # The limit, not the amount: a message that changes at every report would patch the status every time.
    limit = (report.source_backlog_limit_bytes or 0) / 1024**2
    return (
        f"worker {report.pod}: the replication slot holds more than {limit:.0f} MiB of WAL"
        " (source.postgres.slotBacklogLimitBytes), which PostgreSQL cannot recycle until the pipeline catches up"
    )


def _dead_lettered(report: WorkerReport) -> str:
    last = f", the last at {report.last_failed_time:%Y-%m-%dT%H:%M:%SZ}" if report.last_failed_time else ""
    return (
        f"dead-lettered {report.failed} item(s){last}: they are not in the target until replayed"
        " (kubectl graphsync dlq list)"
    )


def _in_sync(observed: Observed, reports: list[WorkerReport], lags: list[float]) -> Condition:
    if not reports:
        return _condition("InSync", None, Reason.NO_REPORTS, "no worker is reporting", observed)
    backlog = next((r for r in reports if _over_backlog(r)), None)
    if backlog is not None:
        return _condition("InSync", False, Reason.SLOT_BACKLOG, _backlog_message(backlog), observed)
    if lags and max(lags) > 0:
        return _condition("InSync", False, Reason.BEHIND, f"the slowest worker is {max(lags):.0f}s behind", observed)
    if not lags:
        return _condition("InSync", None, Reason.UNKNOWN, "the workers do not report a lag in this mode", observed)
    return _condition("InSync", True, Reason.CAUGHT_UP, "every worker has read everything there is", observed)


def _condition(kind: str, value: bool | None, reason: Reason, message: str, observed: Observed) -> Condition:
    status = "Unknown" if value is None else str(value)
    before = next((c for c in observed.previous if c.type == kind), None)
    changed = before is None or before.status != status
    return Condition(
        type=kind,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=observed.now if changed or before is None else before.last_transition_time,
        observed_generation=observed.generation,
    )


def _verdict(kind: str, verdict: Verdict, observed: Observed) -> Condition:
    return _condition(kind, verdict.holds, verdict.reason, verdict.message, observed)


def _flag(kind: str, cause: Cause | None, otherwise: Reason, observed: Observed) -> Condition:
    """A condition that holds for a cause, and otherwise is False with reason `otherwise` and no message."""
    if cause is None:
        return _condition(kind, False, otherwise, "", observed)
    return _condition(kind, True, cause.reason, cause.message, observed)


def _stalled(problem: Problem | None, observed: Observed) -> Condition:
    if problem is None:
        return _condition("Stalled", False, Reason.RUNNING, "", observed)
    return _condition("Stalled", True, problem.reason, problem.message, observed)


def _sum_optional(values: Iterable[int | None]) -> int | None:
    found = [value for value in values if value is not None]
    return sum(found) if found else None


def last_reconciliation(runs: Sequence[tuple[str, WorkerReport]]) -> LastReconciliation | None:
    """The newest finished run of any ReconciliationJob of the pipeline."""
    done = [(name, r.reconciliation) for name, r in runs if r.reconciliation is not None]
    if not done:
        return None
    name, newest = max(done, key=lambda item: item[1].started_at)
    return LastReconciliation.model_validate({**newest.model_dump(), "name": name})


def reconciliation_status(observed: Observed) -> ReconciliationJobStatus:
    """A ReconciliationJob: Ready while it can run on its schedule; InSync from its newest run's outcome."""
    runs = [report for _, report in observed.reconciliations]
    last = last_reconciliation(observed.reconciliations)
    running = [r for r in live(observed) if r.state in (WorkerState.STARTING, WorkerState.RUNNING)]
    if observed.problem is not None:
        ready = Verdict(False, observed.problem.reason, observed.problem.message)
        phase = Phase.INVALID if observed.problem.permanent else Phase.PENDING
    elif observed.suspended:
        ready, phase = Verdict(True, Reason.SUSPENDED, "spec.suspend is true: no run starts"), Phase.SUSPENDED
    else:
        ready = Verdict(
            True, Reason.SCHEDULED, f"runs on its schedule, or now with the {names.RECONCILE_NOW} annotation"
        )
        phase = Phase.RUNNING if running else Phase.SCHEDULED
    failed = [r for r in runs if r.state is WorkerState.FAILED and (last is None or r.started_at >= last.started_at)]
    degraded = None
    if last is not None and last.outcome in (Outcome.FAILED, Outcome.PARTIAL):
        degraded = Cause(Reason.RUN_FAILED, f"the last run ended {last.outcome}")
    elif failed:
        degraded = Cause(Reason.RUN_FAILED, failed[0].error or "the last run failed")
    if last is None:
        in_sync = _condition("InSync", None, Reason.NO_RUN_YET, "no run has finished yet", observed)
    else:
        reason = reasons.of_outcome(last.outcome)
        holds = reason in (Reason.IN_SYNC, Reason.REPAIRED)
        in_sync = _condition("InSync", holds, reason, _counts(last), observed)
    conditions = [
        _verdict("Ready", ready, observed),
        _condition("Reconciling", False, Reason.RECONCILED, "", observed),
        _stalled(observed.problem, observed),
        _flag("Degraded", degraded, Reason.AS_EXPECTED, observed),
        in_sync,
    ]
    return ReconciliationJobStatus(
        observed_generation=observed.generation, phase=phase, last_run=last, conditions=conditions
    )


def policy_status(observed: Observed, users: Sequence[str]) -> ConflictPolicyStatus:
    """A ConflictPolicy: valid or not (the problem says why), and which pipelines use it."""
    problem = observed.problem
    ready = _condition(
        "Ready",
        problem is None,
        problem.reason if problem else Reason.VALID,
        problem.message if problem else f"used by {len(users)} pipeline(s)",
        observed,
    )
    stalled = _condition("Stalled", problem is not None, problem.reason if problem else Reason.VALID, "", observed)
    return ConflictPolicyStatus(
        observed_generation=observed.generation, pipelines=sorted(users), conditions=[ready, stalled]
    )


def _counts(run: LastReconciliation) -> str:
    return (
        f"{run.compared} compared, {run.missing} missing, {run.extra} extra, {run.different} different,"
        f" {run.repaired} repaired, {run.failed} failed"
    )


def transitions(before: Sequence[Condition], after: Sequence[Condition]) -> list[tuple[str, str, str]]:
    """Events to post: (type Normal|Warning, reason, message) for Ready and Degraded changes."""
    old = {c.type: c for c in before}
    events = []
    for condition in after:
        if condition.type not in ("Ready", "Degraded"):
            continue
        previous = old.get(condition.type)
        if previous is not None and (previous.status, previous.reason) == (condition.status, condition.reason):
            continue
        bad = (condition.type == "Ready") != (condition.status == "True")
        if previous is None and not bad:
            continue  # a new resource that is fine says nothing
        events.append(("Warning" if bad else "Normal", condition.reason, condition.message or condition.type))
    return events
