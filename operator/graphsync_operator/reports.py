"""What a worker pod tells the operator: one report per pod, kept in an annotation of the pipeline's Lease.

Why a Lease: workers need no write access to the resource the operator owns (their
Role may only get and patch one Lease, by name); each pod patches its own annotation,
so replicas never overwrite one another; and the operator reads every Lease from one
watch, without a request per pipeline. A report doubles as the heartbeat: a pod that
stops reporting is dead or stuck, whatever its Pod object says.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from graphsync_operator.api.status import BackfillStatus, CheckpointResetStatus, RecentRun, SchemaChangeStatus

ANNOTATION_PREFIX = "progress.graphsync.io/"
# How often a worker reports when nothing changed; the operator calls a pod silent after MISSED_BEATS of them.
HEARTBEAT_SECONDS = 10.0
MISSED_BEATS = 3


class WorkerState(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    # A source or target is unreachable: the worker retries with backoff and nothing advances.
    RETRYING = "retrying"
    # A scheduled run or a reconciliation ended.
    FINISHED = "finished"
    # The run ended with an error it cannot retry (an invalid spec, a failed reconciliation).
    FAILED = "failed"
    # The run's loops stopped coming back from reads and writes (a blocked call): the process is alive, the work not.
    STUCK = "stuck"
    # Not a pod: the summed counts of pods long gone, folded together by the operator to keep the Lease small.
    RETIRED = "retired"


class Reconciliation(BaseModel):
    """The summary of one reconciliation run, as `graphsync reconcile --json` prints it."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    id: str
    action: str
    outcome: str
    started_at: datetime
    finished_at: datetime | None = None
    compared: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    repaired: int = 0
    failed: int = 0
    error: str | None = None


class WorkerReport(BaseModel):
    """One pod's progress since it started; counters restart with the pod."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    pod: str
    started_at: datetime
    heartbeat: datetime
    state: WorkerState
    synced: int = Field(default=0, ge=0)
    failed: int = Field(default=0, ge=0)
    retries: int = Field(default=0, ge=0)
    # Seconds since the worker last had nothing left to read; 0 while it keeps up, None when unknown.
    lag_seconds: float | None = None
    checkpoint: str | None = None
    last_sync_time: datetime | None = None
    # When the pod last sent an item to the dead-letter store.
    last_failed_time: datetime | None = None
    # Capture logical: WAL bytes its replication slot holds, and the spec's limit for them.
    source_backlog_bytes: int | None = Field(default=None, ge=0)
    source_backlog_limit_bytes: int | None = Field(default=None, ge=0)
    error: str | None = Field(default=None, max_length=1024)
    open_conflicts: int | None = None
    reconciliation: Reconciliation | None = None
    backfills: list[BackfillStatus] = Field(default_factory=list)
    checkpoint_resets: list[CheckpointResetStatus] = Field(default_factory=list)
    schema_changes: list[SchemaChangeStatus] = Field(default_factory=list)
    config_hash: str | None = None


RETIRED_KEY = ANNOTATION_PREFIX + "retired"
# Reports of pods gone this long are folded into the retired counts once more than KEEP_GONE of them pile up
# (each scheduled run is a new pod; an annotation-heavy Lease would in time outgrow what the API server stores).
GONE_AFTER = timedelta(hours=1)
KEEP_GONE = 10


def retire(reports: list[WorkerReport], now: datetime) -> tuple[list[str], WorkerReport | None]:
    """Which pods' reports to fold away, and the retired counts that replace them (pure)."""
    gone = sorted(
        (r for r in reports if r.state is not WorkerState.RETIRED and r.heartbeat < now - GONE_AFTER),
        key=lambda r: r.heartbeat,
    )
    if len(gone) <= KEEP_GONE:
        return [], None
    folded = gone[: len(gone) - KEEP_GONE]
    earlier = next((r for r in reports if r.state is WorkerState.RETIRED), None)
    retired = WorkerReport(
        pod="(retired)",
        started_at=min([r.started_at for r in folded] + ([earlier.started_at] if earlier else [])),
        heartbeat=max(r.heartbeat for r in folded),
        state=WorkerState.RETIRED,
        synced=sum(r.synced for r in folded) + (earlier.synced if earlier else 0),
        failed=sum(r.failed for r in folded) + (earlier.failed if earlier else 0),
    )
    return [r.pod for r in folded], retired


def reports_in(annotations: Mapping[str, str]) -> tuple[list[WorkerReport], list[str]]:
    """The reports in a Lease's annotations, and the keys of those ignored: unreadable, or not under the key of
    the pod they name (a report speaks for the pod whose annotation it is in, and no other)."""
    reports: list[WorkerReport] = []
    ignored: list[str] = []
    for key, value in annotations.items():
        if not key.startswith(ANNOTATION_PREFIX):
            continue
        try:
            report = WorkerReport.model_validate_json(value)
        except ValidationError:
            ignored.append(key)
            continue
        retired = report.state is WorkerState.RETIRED
        if (key == RETIRED_KEY) != retired or (not retired and key != annotation_key(report.pod)):
            ignored.append(key)
            continue
        reports.append(report)
    return reports, ignored


def from_workloads(reports: Iterable[WorkerReport], prefixes: tuple[str, ...]) -> list[WorkerReport]:
    """The reports of pods whose names begin as the resource's workloads name their pods, and the retired counts."""
    return [r for r in reports if r.state is WorkerState.RETIRED or r.pod.startswith(prefixes)]


def annotation_key(pod: str) -> str:
    """A pod's annotation: pod names can be longer than an annotation name may be (63), so hashed."""
    return ANNOTATION_PREFIX + hashlib.sha256(pod.encode()).hexdigest()[:16]


RECENT_RUNS = 5
_ENDED = (WorkerState.FINISHED, WorkerState.FAILED)


def recent_runs(reports: Iterable[WorkerReport], limit: int = RECENT_RUNS) -> list[RecentRun]:
    """The newest runs, one per pod's report, newest first; the retired counts are no run (pure)."""
    runs = sorted(
        (r for r in reports if r.state is not WorkerState.RETIRED), key=lambda r: (r.started_at, r.pod), reverse=True
    )
    return [
        RecentRun(
            pod=report.pod,
            state=report.state.value,
            started_at=report.started_at,
            finished_at=report.heartbeat if report.state in _ENDED else None,
            synced=report.synced,
            failed=report.failed,
            error=report.error,
        )
        for report in runs[:limit]
    ]


def reset_events(before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """An Event for each checkpoint reset the status newly shows applied or refused (pure)."""
    told = {str(item.get("name")): item.get("phase") for item in before}
    events = []
    for item in after:
        phase, name = item.get("phase"), str(item.get("name"))
        if phase == told.get(name) or phase not in ("Applied", "Refused"):
            continue
        said = f"checkpoint reset {name} of {item.get('checkpoint')}: {item.get('message') or phase.lower()}"
        events.append(
            ("Normal", "CheckpointReset", said) if phase == "Applied" else ("Warning", "CheckpointResetRefused", said)
        )
    return events


def newest_telling(reports: Iterable[WorkerReport]) -> WorkerReport | None:
    """The report of the pod started last (pure): one pod at a time carries out backfills and resets and finds
    schema changes, and a pod started later has read from the target and source what earlier ones did."""
    live = [report for report in reports if report.state is not WorkerState.RETIRED]
    return max(live, key=lambda report: (report.started_at, report.heartbeat), default=None)


def backfills_of(reports: Iterable[WorkerReport]) -> list[BackfillStatus]:
    """The spec's backfills as the newest report that tells them says (pure)."""
    newest = newest_telling(r for r in reports if r.backfills)
    return newest.backfills if newest is not None else []


def checkpoint_resets_of(reports: Iterable[WorkerReport]) -> list[CheckpointResetStatus]:
    """The spec's checkpoint resets as the newest report that tells them says (pure)."""
    newest = newest_telling(r for r in reports if r.checkpoint_resets)
    return newest.checkpoint_resets if newest is not None else []


def schema_changes_of(reports: Iterable[WorkerReport]) -> list[SchemaChangeStatus]:
    """The schema changes the newest report tells (pure): a new pod finds a change not yet followed again."""
    newest = newest_telling(r for r in reports if r.schema_changes)
    return newest.schema_changes if newest is not None else []


def schema_events(
    before: Sequence[Mapping[str, Any]], after: Sequence[Mapping[str, Any]]
) -> list[tuple[str, str, str]]:
    """An Event for each schema change the status newly shows (pure)."""
    told = {(item.get("entity"), item.get("phase"), item.get("backfill")) for item in before}
    events = []
    for item in after:
        if (item.get("entity"), item.get("phase"), item.get("backfill")) in told:
            continue
        said = f"{item.get('table')}: {'; '.join(item.get('changes') or [])}"
        if item.get("phase") == "Stopped":
            events.append(("Warning", "SchemaChanged", f"{said}; the pipeline stopped until `schema --accept`"))
        else:
            events.append(("Normal", "SchemaChanged", f"{said}; {item.get('entity')} is written again"))
    return events
