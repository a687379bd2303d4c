"""What `kubectl graphsync status` shows (pure): resources as the API server returns them in, rows and tables out.

A row says what a user asks first (ready? how far along? what is wrong?); the raw
objects stay one `kubectl get -o yaml` away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

# The status each condition has while all is well; any other status is worth a line under the row.
FINE = {"Ready": ("True",), "Stalled": ("False",), "Degraded": ("False",), "InSync": ("True", "Unknown")}
NONE = "-"


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
    phase: str
    synced: int | None
    failed: int | None
    lag_seconds: float | None
    workers: str
    open_conflicts: int | None
    last_reconciliation: str
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class JobRow:
    namespace: str
    name: str
    pipeline: str
    schedule: str
    ready: str
    phase: str
    last_run: str
    differences: int | None
    repaired: int | None
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class PolicyRow:
    namespace: str
    name: str
    ready: str
    strategy: str
    pipelines: list[str]
    issues: list[Issue] = field(default_factory=list)


@dataclass(frozen=True)
class Report:
    pipelines: list[PipelineRow]
    jobs: list[JobRow]
    policies: list[PolicyRow]

    def data(self) -> dict[str, Any]:
        """For `-o json|yaml`: the same rows, keyed by kind."""
        return {
            "syncPipelines": [asdict(row) for row in self.pipelines],
            "reconciliationJobs": [asdict(row) for row in self.jobs],
            "conflictPolicies": [asdict(row) for row in self.policies],
        }


def issues(resource: Mapping[str, Any], skip: tuple[str, ...] = ()) -> list[Issue]:
    """Conditions that are not fine (but those in `skip`), each reason once (Ready and Stalled often say the same)."""
    status = resource.get("status") or {}
    generation = resource.get("metadata", {}).get("generation")
    found: list[Issue] = []
    if generation is not None and status.get("observedGeneration") != generation:
        seen = status.get("observedGeneration")
        message = f"the operator has not acted on generation {generation} yet (observed: {seen or 'none'})"
        found.append(Issue("ObservedGeneration", "False", "NotObserved", message))
    said: set[tuple[str, str]] = set()
    for condition in status.get("conditions") or []:
        kind, value = condition.get("type", ""), condition.get("status", "Unknown")
        if kind not in FINE or value in FINE[kind] or kind in skip:
            continue
        reason, message = condition.get("reason", ""), condition.get("message", "")
        if (reason, message) in said:
            continue
        said.add((reason, message))
        found.append(Issue(kind, value, reason, message))
    return found


def pipeline_row(resource: Mapping[str, Any], now: datetime) -> PipelineRow:
    meta, status = resource["metadata"], resource.get("status") or {}
    return PipelineRow(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        ready=_condition(status, "Ready"),
        phase=status.get("phase") or NONE,
        synced=status.get("itemsSynced"),
        failed=status.get("itemsFailed"),
        lag_seconds=status.get("lagSeconds"),
        workers=status.get("workers") or NONE,
        open_conflicts=status.get("openConflicts"),
        last_reconciliation=_run(status.get("lastReconciliation"), now, by=True),
        # A pipeline's InSync is its lag, which has a column (and is briefly False with every change).
        issues=issues(resource, skip=("InSync",)),
    )


def job_row(resource: Mapping[str, Any], now: datetime) -> JobRow:
    meta, spec, status = resource["metadata"], resource.get("spec") or {}, resource.get("status") or {}
    last = status.get("lastRun") or {}
    return JobRow(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        pipeline=(spec.get("pipelineRef") or {}).get("name", NONE),
        schedule=spec.get("schedule", NONE),
        ready=_condition(status, "Ready"),
        phase=status.get("phase") or NONE,
        last_run=_run(last or None, now, by=False),
        differences=sum(last.get(k, 0) for k in ("missing", "extra", "different")) if last else None,
        repaired=last.get("repaired") if last else None,
        issues=issues(resource),
    )


def policy_row(resource: Mapping[str, Any]) -> PolicyRow:
    meta, spec, status = resource["metadata"], resource.get("spec") or {}, resource.get("status") or {}
    return PolicyRow(
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        ready=_condition(status, "Ready"),
        strategy=spec.get("strategy", NONE),
        pipelines=list(status.get("pipelines") or []),
        issues=issues(resource),
    )


def render(report: Report, *, all_namespaces: bool) -> str:
    """Tables under a heading per kind, each row followed by its issues, indented."""
    sections = []
    if report.pipelines:
        headers = ["NAME", "READY", "PHASE", "SYNCED", "FAILED", "LAG", "WORKERS", "CONFLICTS", "LAST RECONCILIATION"]
        rows = [
            [
                row.name,
                row.ready,
                row.phase,
                _number(row.synced),
                _number(row.failed),
                lag(row.lag_seconds),
                row.workers,
                _number(row.open_conflicts),
                row.last_reconciliation,
            ]
            for row in report.pipelines
        ]
        sections.append(_section("SyncPipelines", headers, rows, report.pipelines, all_namespaces))
    if report.jobs:
        headers = ["NAME", "PIPELINE", "SCHEDULE", "READY", "PHASE", "LAST RUN", "DIFFERENCES", "REPAIRED"]
        rows = [
            [
                row.name,
                row.pipeline,
                row.schedule,
                row.ready,
                row.phase,
                row.last_run,
                _number(row.differences),
                _number(row.repaired),
            ]
            for row in report.jobs
        ]
        sections.append(_section("ReconciliationJobs", headers, rows, report.jobs, all_namespaces))
    if report.policies:
        headers = ["NAME", "READY", "STRATEGY", "PIPELINES"]
        rows = [[r.name, r.ready, r.strategy, ",".join(r.pipelines) or NONE] for r in report.policies]
        sections.append(_section("ConflictPolicies", headers, rows, report.policies, all_namespaces))
    return "\n\n".join(sections)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, three spaces apart, as kubectl prints them."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=True)]
    return [
        "   ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [headers, *rows]
    ]


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
    headers: list[str],
    rows: list[list[str]],
    items: Sequence[PipelineRow | JobRow | PolicyRow],
    all_namespaces: bool,
) -> str:
    if all_namespaces:
        headers = ["NAMESPACE", *headers]
        rows = [[item.namespace, *row] for item, row in zip(items, rows, strict=True)]
    header, *lines = table(headers, rows)
    out = [heading, header]
    for item, line in zip(items, lines, strict=True):
        out.append(line)
        out += [f"    {issue.text()}" for issue in item.issues]
    return "\n".join(out)


def _condition(status: Mapping[str, Any], kind: str) -> str:
    found = next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)
    return str(found.get("status", "Unknown")) if found else "Unknown"


def _number(value: int | None) -> str:
    return NONE if value is None else str(value)


def _run(run: Mapping[str, Any] | None, now: datetime, *, by: bool) -> str:
    """A reconciliation run as `repaired 5m ago (nightly)`."""
    if not run:
        return NONE
    when = run.get("finishedAt") or run.get("startedAt")
    text = str(run.get("outcome", "unknown"))
    if when:
        text += f" {duration((now - datetime.fromisoformat(when)).total_seconds())} ago"
    if by and run.get("name"):
        text += f" ({run['name']})"
    return text
