"""What the operator writes into each resource's status: kstatus conventions plus the pipeline's progress.

`observedGeneration` and the `Ready`, `Reconciling` and `Stalled` conditions are
what Flux's kstatus and Argo CD read; `InSync` and `Degraded` are ours. The CRDs'
status schemas are generated from these models, like the specs.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class StatusModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class Condition(StatusModel):
    type: str
    status: str = Field(pattern="^(True|False|Unknown)$")
    reason: str = Field(pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
    message: str = ""
    last_transition_time: datetime
    observed_generation: int | None = None


def condition(conditions: Iterable[Condition], kind: str) -> Condition | None:
    """The condition of type `kind` (Ready, InSync, ...), None when there is none yet."""
    return next((found for found in conditions if found.type == kind), None)


class Phase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    # Runs on a schedule and is between runs.
    SCHEDULED = "Scheduled"
    SUSPENDED = "Suspended"
    DEGRADED = "Degraded"
    # The spec cannot run as written; nothing is retried until it changes.
    INVALID = "Invalid"


class LastReconciliation(StatusModel):
    name: str | None = Field(default=None, description="the ReconciliationJob that ran it")
    outcome: str
    started_at: datetime
    finished_at: datetime | None = None
    compared: int = 0
    missing: int = 0
    extra: int = 0
    different: int = 0
    repaired: int = 0
    failed: int = 0


class RecentRun(StatusModel):
    """One worker pod's run, as its reports tell it (`graphsync history` keeps the long record)."""

    pod: str
    state: str = Field(description="running, retrying, stuck, finished or failed, as the worker last reported")
    started_at: datetime
    finished_at: datetime | None = None
    synced: int = 0
    failed: int = 0
    error: str | None = None


class BackfillStatus(StatusModel):
    """One of the spec's backfills, as the worker running it reports."""

    name: str
    phase: str = Field(description="Pending, Running, Completed, Partial (some writes refused) or Failed (retried)")
    entities: list[str] = Field(default_factory=list, description="the entity types walked so far")
    compared: int = Field(default=0, description="source entities read")
    written: int = Field(default=0, description="entities written again, since the target differed")
    failed: int = Field(default=0, description="writes the target refused")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None
    run: str | None = Field(default=None, description="the reconciliation run that carried it out (graphsync history)")


class CheckpointResetStatus(StatusModel):
    """One of the spec's checkpoint resets, as the worker applying it reports."""

    name: str
    checkpoint: str
    phase: str = Field(description="Pending, Applying, Applied or Refused (the message says why)")
    moved: int | None = Field(default=None, description="changes read again (back) or skipped (forward)")
    message: str | None = None
    before: str | None = Field(default=None, description="the position before, as JSON")
    after: str | None = Field(default=None, description="the position after, as JSON")
    applied_at: datetime | None = None


class SchemaChangeStatus(StatusModel):
    """A change to a mapped table's columns, as the worker that found it reports."""

    entity: str
    table: str
    changes: list[str] = Field(default_factory=list, description="each column added, dropped, renamed or retyped")
    phase: str = Field(description="Following (the entity type is written again) or Stopped (until accepted)")
    backfill: str | None = Field(default=None, description="the backfill that follows it (status.backfills)")
    detected_at: datetime | None = None


class SyncPipelineStatus(StatusModel):
    observed_generation: int | None = None
    phase: Phase | None = None
    source: str | None = Field(default=None, description="the source kind")
    target: str | None = Field(default=None, description="the target kind")
    items_synced: int | None = Field(default=None, description="items written by the workers, as they reported")
    items_failed: int | None = Field(default=None, description="items in the dead-letter store")
    lag_seconds: float | None = Field(default=None, description="how long the slowest worker has been behind")
    checkpoint: str | None = None
    last_sync_time: datetime | None = None
    workers: str | None = Field(default=None, description="ready/desired, as kubectl shows it")
    ready_workers: int | None = None
    desired_workers: int | None = None
    selector: str | None = Field(default=None, description="the worker pods' label selector (the scale subresource's)")
    open_conflicts: int | None = None
    last_reconciliation: LastReconciliation | None = None
    recent_runs: list[RecentRun] = Field(
        default_factory=list, description="the newest runs of the pipeline's worker pods, newest first"
    )
    backfills: list[BackfillStatus] = Field(
        default_factory=list, description="the spec's backfills: which are done, the one running with its counts"
    )
    checkpoint_resets: list[CheckpointResetStatus] = Field(
        default_factory=list, description="the spec's checkpoint resets: applied or refused, what each moved"
    )
    schema_changes: list[SchemaChangeStatus] = Field(
        default_factory=list, description="changes to the mapped tables' columns the workers found, and what they do"
    )
    config_hash: str | None = Field(default=None, description="of the engine config the workers run")
    handled_requests: dict[str, str] = Field(
        default_factory=dict, description="sync-now or reconcile-now annotation values already acted on"
    )
    conditions: list[Condition] = Field(default_factory=list)


class ReconciliationJobStatus(StatusModel):
    observed_generation: int | None = None
    phase: Phase | None = None
    last_run: LastReconciliation | None = None
    handled_requests: dict[str, str] = Field(default_factory=dict)
    conditions: list[Condition] = Field(default_factory=list)


class ConflictPolicyStatus(StatusModel):
    observed_generation: int | None = None
    pipelines: list[str] = Field(default_factory=list, description="SyncPipelines that reference this policy")
    conditions: list[Condition] = Field(default_factory=list)
