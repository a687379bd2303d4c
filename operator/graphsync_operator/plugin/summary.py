"""What `kubectl graphsync status` shows (pure): resources as the API server returns them in, rows and tables out.

A row says what a user asks first (ready? how far along? what is wrong?); the raw
objects stay one `kubectl get -o yaml` away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import ValidationError

from graphsync.commands import output
from graphsync_operator.api.status import (
    Condition,
    ConflictPolicyStatus,
    LastReconciliation,
    ReconciliationJobStatus,
    SyncPipelineStatus,
)

# The status each condition has while all is well; any other status is worth a line under the row.
FINE = {"Ready": ("True",), "Stalled": ("False",), "Degraded": ("False",), "InSync": ("True", "Unknown")}
# What a table shows for a value not known; machine output says null instead.
NONE = output.EMPTY
PIPELINE_HEADERS = ("NAME", "READY", "PHASE", "SYNCED", "FAILED", "LAG", "WORKERS", "CONFLICTS", "LAST RECONCILIATION")
# What -o wide adds to a pipeline's row: where it reads and writes, how far it is.
PIPELINE_WIDE = ("SOURCE", "TARGET", "CHECKPOINT", "LAST SYNC")
JOB_HEADERS = ("NAME", "PIPELINE", "SCHEDULE", "READY", "PHASE", "LAST RUN", "DIFFERENCES", "REPAIRED")
POLICY_HEADERS = ("NAME", "READY", "STRATEGY", "PIPELINES")

Status = TypeVar("Status", SyncPipelineStatus, ReconciliationJobStatus, ConflictPolicyStatus)


@dataclass(frozen=True)
class Issue:
    """A condition that is not fine, or a generation the operator has not acted on yet."""

    type: str
    status: str
    reason: str
    message: str

    def text(self) -> str:
        return f"{self.type}={self.status} {self.reason}" + (f": {self.message}" if self.message else "")


@dataclass(frozen=True)
class PipelineRow:
    namespace: str
    name: str
    ready: str
    phase: str | None
    synced: int | None
    failed: int | None
    lag_seconds: float | None
    workers: str | None
    open_conflicts: int | None
    last_reconciliation: str | None
    issues: list[Issue] = field(default_factory=list)
    source: str | None = None
    target: str | None = None
    checkpoint: str | None = None
    last_sync_time: str | None = None
    # The run itself, for -o json|yaml: the table's "repaired 5m ago" is for people only.
    last_reconciliation_run: dict[str, Any] | None = None


@dataclass(frozen=True)
class JobRow:
    namespace: str
    name: str
    pipeline: str | None
    schedule: str | None
    ready: str
    phase: str | None
    last_run: str | None
    differences: int | None
    repaired: int | None
    issues: list[Issue] = field(default_factory=list)
    last_run_record: dict[str, Any] | None = None


@dataclass(frozen=True)
class PolicyRow:
    namespace: str
    name: str
    ready: str
    strategy: str | None
    pipelines: list[str]
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    pipelines: list[PipelineRow]
    jobs: list[JobRow]
    policies: list[PolicyRow]

    def data(self) -> dict[str, Any]:
        """For `-o json|yaml`: the same rows, keyed by kind, in camelCase (null where the table shows "-")."""
        return {
            "syncPipelines": [_machine(row, "lastReconciliationRun", "lastReconciliation") for row in self.pipelines],
            "reconciliationJobs": [_machine(row, "lastRunRecord", "lastRun") for row in self.jobs],
            "conflictPolicies": [output.camel_keys(asdict(row)) for row in self.policies],
        }


Resources = list[dict[str, Any]]


def select(
    pipelines: Resources, jobs: Resources, policies: Resources, name: str | None
) -> tuple[Resources, Resources, Resources]:
    """What `status [NAME]` shows: everything, or the SyncPipelines called `name` (one per namespace with -A), each
    with the ReconciliationJobs that run on it and the ConflictPolicy it uses, from its own namespace."""
    if name is None:
        return pipelines, jobs, policies
    chosen = [p for p in pipelines if p["metadata"]["name"] == name]
    namespaces = {p["metadata"].get("namespace", "") for p in chosen}
    used = {
        (p["metadata"].get("namespace", ""), ((p.get("spec") or {}).get("conflictPolicyRef") or {}).get("name"))
        for p in chosen
    }
    return (
        chosen,
        [
            j
            for j in jobs
            if j["metadata"].get("namespace", "") in namespaces
            and ((j.get("spec") or {}).get("pipelineRef") or {}).get("name") == name
        ],
        [p for p in policies if (p["metadata"].get("namespace", ""), p["metadata"]["name"]) in used],
    )


def status_of(model: type[Status], resource: Mapping[str, Any]) -> Status:
    """The resource's status as the operator's model of it; one it did not write (yet, or by hand) reads as empty."""
    try:
        return model.model_validate(resource.get("status") or {})
    except ValidationError:
        return model()


def issues(
    resource: Mapping[str, Any],
    status: SyncPipelineStatus | ReconciliationJobStatus | ConflictPolicyStatus,
    skip: tuple[str, ...] = (),
) -> list[Issue]:
    """Conditions that are not fine (but those in `skip`), each reason once (Ready and Stalled often say the same)."""
    observed, conditions = status.observed_generation, status.conditions
    generation = resource.get("metadata", {}).get("generation")
    found: list[Issue] = []
    if generation is not None and observed != generation:
        message = f"the operator has not acted on generation {generation} yet (observed: {observed or 'none'})"
        found.append(Issue("ObservedGeneration", "False", "NotObserved", message))
    said: set[tuple[str, str]] = set()
    for condition in conditions:
        if condition.type not in FINE or condition.status in FINE[condition.type] or condition.type in skip:
            continue
        if (condition.reason, condition.message) in said:
            continue
        said.add((condition.reason, condition.message))
        found.append(Issue(condition.type, condition.status, condition.reason, condition.message))
    return found


def ready_reason(conditions: Sequence[Condition]) -> str | None:
    """Why the resource is (not) Ready, as the operator said it: `Suspended`, `ScaledToZero`, `Syncing`, ..."""
    found = next((c for c in conditions if c.type == "Ready"), None)
    return found.reason if found else None


def pipeline_row(resource: Mapping[str, Any], now: datetime) -> PipelineRow:
    status = status_of(SyncPipelineStatus, resource)
    return PipelineRow(
        namespace=resource["metadata"].get("namespace", ""),
        name=resource["metadata"]["name"],
        ready=_condition(status.conditions, "Ready"),
        phase=status.phase.value if status.phase else None,
        synced=status.items_synced,
        failed=status.items_failed,
        lag_seconds=status.lag_seconds,
        workers=status.workers,
        open_conflicts=status.open_conflicts,
        last_reconciliation=_run(status.last_reconciliation, now, by=True),
        # A pipeline's InSync is its lag, which has a column (and is briefly False with every change).
        issues=issues(resource, status, skip=("InSync",)),
        source=status.source,
        target=status.target,
        checkpoint=status.checkpoint,
        last_sync_time=status.last_sync_time.isoformat() if status.last_sync_time else None,
        last_reconciliation_run=_record(status.last_reconciliation),
    )


def job_row(resource: Mapping[str, Any], now: datetime) -> JobRow:
    spec, status = resource.get("spec") or {}, status_of(ReconciliationJobStatus, resource)
    last = status.last_run
    return JobRow(
        namespace=resource["metadata"].get("namespace", ""),
        name=resource["metadata"]["name"],
        pipeline=(spec.get("pipelineRef") or {}).get("name"),
        schedule=spec.get("schedule"),
        ready=_condition(status.conditions, "Ready"),
        phase=status.phase.value if status.phase else None,
        last_run=_run(last, now, by=False),
        differences=last.missing + last.extra + last.different if last else None,
        repaired=last.repaired if last else None,
        issues=issues(resource, status),
        last_run_record=_record(last),
    )


def policy_row(resource: Mapping[str, Any]) -> PolicyRow:
    spec, status = resource.get("spec") or {}, status_of(ConflictPolicyStatus, resource)
    return PolicyRow(
        namespace=resource["metadata"].get("namespace", ""),
        name=resource["metadata"]["name"],
        ready=_condition(status.conditions, "Ready"),
        strategy=spec.get("strategy"),
        pipelines=list(status.pipelines),
        issues=issues(resource, status),
    )


def render(report: Report, *, all_namespaces: bool, wide: bool = False) -> str:
    """Tables under a heading per kind, each row followed by its issues, indented; `wide` adds the pipelines'
    source, target, checkpoint and last sync."""
    sections = []
    if report.pipelines:
        rows = [
            [
                row.name,
                row.ready,
                _text(row.phase),
                _number(row.synced),
                _number(row.failed),
                lag(row.lag_seconds),
                _text(row.workers),
                _number(row.open_conflicts),
                _text(row.last_reconciliation),
            ]
            + ([_text(row.source), _text(row.target), _text(row.checkpoint), _text(row.last_sync_time)] if wide else [])
            for row in report.pipelines
        ]
        headers = PIPELINE_HEADERS + (PIPELINE_WIDE if wide else ())
        sections.append(_section("SyncPipelines", headers, rows, report.pipelines, all_namespaces))
    if report.jobs:
        rows = [
            [
                row.name,
                _text(row.pipeline),
                _text(row.schedule),
                row.ready,
                _text(row.phase),
                _text(row.last_run),
                _number(row.differences),
                _number(row.repaired),
            ]
            for row in report.jobs
        ]
        sections.append(_section("ReconciliationJobs", JOB_HEADERS, rows, report.jobs, all_namespaces))
    if report.policies:
        rows = [[r.name, r.ready, _text(r.strategy), ",".join(r.pipelines) or NONE] for r in report.policies]
        sections.append(_section("ConflictPolicies", POLICY_HEADERS, rows, report.policies, all_namespaces))
    return "\n\n".join(sections)


def lag(seconds: float | None) -> str:
    if seconds is None:
        return NONE
    return duration(seconds)


def duration(seconds: float) -> str:
    """As kubectl shows ages: 45s, 3m12s, 2h5m, 3d4h."""
    whole = max(0, int(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60}s" if whole % 60 else f"{whole // 60}m"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60}m" if whole % 3600 // 60 else f"{whole // 3600}h"
    return f"{whole // 86400}d{whole % 86400 // 3600}h" if whole % 86400 // 3600 else f"{whole // 86400}d"


def _section(
    heading: str,
    headers: Sequence[str],
    rows: list[list[str]],
    items: Sequence[PipelineRow | JobRow | PolicyRow],
    all_namespaces: bool,
) -> str:
    if all_namespaces:
        headers = ("NAMESPACE", *headers)
        rows = [[item.namespace, *row] for item, row in zip(items, rows, strict=True)]
    header, *lines = output.table(headers, rows)
    out = [heading, header]
    for item, line in zip(items, lines, strict=True):
        out.append(line)
        out += [f"    {issue.text()}" for issue in item.issues]
    return "\n".join(out)


def _condition(conditions: Sequence[Condition], kind: str) -> str:
    found = next((c for c in conditions if c.type == kind), None)
    return found.status if found else "Unknown"


def _number(value: int | None) -> str:
    return NONE if value is None else str(value)


def _machine(row: PipelineRow | JobRow, structured: str, text: str) -> dict[str, Any]:
    """A row in camelCase, its run as the status holds it (times, counts) where the table says it in words."""
    found = output.camel_keys(asdict(row))
    found[text] = found.pop(structured)
    return found


def _record(run: LastReconciliation | None) -> dict[str, Any] | None:
    return run.model_dump(mode="json", by_alias=True, exclude_none=True) if run is not None else None


def _text(value: str | None) -> str:
    return NONE if value is None else value


def _run(run: LastReconciliation | None, now: datetime, *, by: bool) -> str | None:
    """A reconciliation run as `repaired 5m ago (nightly)`."""
    if run is None:
        return None
    when = run.finished_at or run.started_at
    text = f"{run.outcome} {duration((now - when).total_seconds())} ago"
    if by and run.name:
        text += f" ({run.name})"
    return text
