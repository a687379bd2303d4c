"""What a reconciliation run found and did: counts per entity type, samples, the outcome (pure data)."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphsync.compare.entries import Entry, changed_fields
from graphsync.connectors.graphs.reading import canonical
from graphsync.spec.reconcile import Action, ReconcileSpec


class Outcome(enum.StrEnum):
    RUNNING = "running"
    IN_SYNC = "inSync"
    # Report mode: differences found and left as they are.
    DRIFT = "drift"
    REPAIRED = "repaired"
    # Repair mode: some differences could not be repaired; samples say why.
    PARTIAL = "partial"
    FAILED = "failed"


KINDS = ("missing", "extra", "different", "failed")


@dataclass
class EntityReport:
    entity: str
    source: int = 0
    target: int = 0
    buckets: int = 0
    differing_buckets: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    repaired: int = 0
    # Repairs a newer write had already overtaken: the target holds something newer than the repair.
    superseded: int = 0
    failed: int = 0
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    @property
    def differences(self) -> int:
        return self.missing + self.extra + self.different

    def sample(self, kind: str, limit: int, source: Entry | None, target: Entry | None, reason: str = "") -> None:
        kept = self.samples[kind]
        if len(kept) >= limit:
            return
        entry = source or target
        if entry is None:
            return
        item: dict[str, Any] = {"key": canonical(entry.key)}
        if source is not None:
            item["source"] = canonical(source.content)
        if target is not None:
            item["target"] = canonical(target.content)
        if source is not None and target is not None:
            item["fields"] = changed_fields(source.content, target.content)
        if reason:
            item["reason"] = reason
        kept.append(item)

    def summary(self) -> dict[str, Any]:
        counts = {
            "entity": self.entity,
            "source": self.source,
            "target": self.target,
            "buckets": self.buckets,
            "differingBuckets": self.differing_buckets,
            "missing": self.missing,
            "extra": self.extra,
            "different": self.different,
            "repaired": self.repaired,
            "superseded": self.superseded,
            "failed": self.failed,
        }
        return {**counts, "samples": {kind: items for kind, items in self.samples.items() if items}}


@dataclass
class Report:
    pipeline: str
    spec: ReconcileSpec
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    outcome: Outcome = Outcome.RUNNING
    error: str | None = None
    entities: list[EntityReport] = field(default_factory=list)

    def total(self, name: str) -> int:
        return sum(int(getattr(entity, name)) for entity in self.entities)

    def finish(self, error: str | None = None) -> None:
        """Settle the outcome from the counts (or the error that ended the run)."""
        self.finished_at = datetime.now(UTC)
        self.error = error
        self.outcome = outcome(self.spec.action, self.total("differences"), self.total("failed"), error)

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "action": self.spec.action.value,
            "scope": self.spec.scope.model_dump(mode="json", by_alias=True),
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(self.finished_at) if self.finished_at else None,
            "outcome": self.outcome.value,
            "error": self.error,
            "compared": self.total("source"),
            "missing": self.total("missing"),
            "extra": self.total("extra"),
            "different": self.total("different"),
            "repaired": self.total("repaired"),
            "failed": self.total("failed"),
            "entities": [entity.summary() for entity in self.entities],
        }


def outcome(action: Action, differences: int, failed: int, error: str | None) -> Outcome:
    if error is not None:
        return Outcome.FAILED
    if differences == 0:
        return Outcome.IN_SYNC
    if action is Action.REPORT:
        return Outcome.DRIFT
    return Outcome.PARTIAL if failed else Outcome.REPAIRED


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")
