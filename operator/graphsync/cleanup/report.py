"""What a cleanup reports: what it removed, what it kept and why, and what failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CleanupReport:
    """What one cleanup removed (a second run's report is empty), what it kept and why, and what failed."""

    pipeline: str
    # Tables whose capture trigger was dropped.
    triggers: list[str] = field(default_factory=list)
    # The replication slot and publications of capture logical, dropped (their WAL is released).
    replication: list[str] = field(default_factory=list)
    # The engine's schema, dropped with everything in it.
    schema: str | None = None
    # Engine tables and functions dropped (by name: the schema may hold other objects).
    schema_objects: list[str] = field(default_factory=list)
    # This pipeline's rows deleted from a schema other pipelines still use.
    schema_rows: int = 0
    streams: list[str] = field(default_factory=list)
    # Consumer groups, as `stream group`, deleted with their streams.
    groups: list[str] = field(default_factory=list)
    # Other keys (state of graph pipelines).
    keys: list[str] = field(default_factory=list)
    # FalkorDB graphs deleted (a rebuild's leftover, an emptied audit graph).
    graphs: list[str] = field(default_factory=list)
    tombstones: int = 0
    versions_reset: int = 0
    audit_runs: int = 0
    checkpoints: int = 0
    # Local mirrors of Git repositories.
    cache: list[str] = field(default_factory=list)
    # What was left in place on purpose, and why.
    kept: list[str] = field(default_factory=list)
    # One line per side that failed, naming it.
    errors: list[str] = field(default_factory=list)

    @property
    def removed(self) -> bool:
        """Whether this run removed (or reset) anything at all."""
        return any(
            (
                self.triggers,
                self.replication,
                self.schema,
                self.schema_objects,
                self.schema_rows,
                self.streams,
                self.keys,
                self.graphs,
                self.tombstones,
                self.versions_reset,
                self.audit_runs,
                self.checkpoints,
                self.cache,
            )
        )

    def summary(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "removed": self.removed,
            "triggers": self.triggers,
            "replication": self.replication,
            "schema": self.schema,
            "schemaObjects": self.schema_objects,
            "schemaRows": self.schema_rows,
            "streams": self.streams,
            "groups": self.groups,
            "keys": self.keys,
            "graphs": self.graphs,
            "tombstones": self.tombstones,
            "versionsReset": self.versions_reset,
            "auditRuns": self.audit_runs,
            "checkpoints": self.checkpoints,
            "cache": self.cache,
            "kept": self.kept,
            "errors": self.errors,
        }


class CleanupError(RuntimeError):
    """Some side could not be cleaned up (each named in the message); `report` holds what was done."""

    def __init__(self, report: CleanupReport) -> None:
        super().__init__("; ".join(report.errors))
        self.report = report
