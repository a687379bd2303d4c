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
    """One aspect of the resource's state, as Kubernetes conditions are (kstatus and Argo CD read them)."""

    type: str = Field(description="Ready, Reconciling, Stalled, InSync or Degraded")
    status: str = Field(pattern="^(True|False|Unknown)$", description="True, False or Unknown")
    reason: str = Field(
        pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        description="why, in one CamelCase word (each has an entry in the docs' Troubleshoot page)",
    )
    message: str = Field(default="", description="why, for people")
    last_transition_time: datetime = Field(description="when status last changed")
    observed_generation: int | None = Field(default=None, description="the metadata.generation it was set for")


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
    """The newest reconciliation run: what it compared, found and repaired."""

    name: str | None = Field(default=None, description="the ReconciliationJob that ran it")
    outcome: str = Field(description="running, inSync, drift (reported, left), repaired, partial or failed")
    started_at: datetime = Field(description="when the run started")
    finished_at: datetime | None = Field(default=None, description="when it ended; none while it runs")
    compared: int = Field(default=0, description="entities compared on both sides")
    missing: int = Field(default=0, description="in the source, not in the target")
    extra: int = Field(default=0, description="in the target, not in the source")
    different: int = Field(default=0, description="on both sides, with different properties")
    repaired: int = Field(default=0, description="written again to match the source (action repair)")
    failed: int = Field(default=0, description="that could not be compared or repaired (samples in the run's history)")


class RecentRun(StatusModel):
    """One worker pod's run, as its reports tell it (`graphsync history` keeps the long record)."""

    pod: str = Field(description="the worker pod")
    state: str = Field(description="running, retrying, stuck, finished or failed, as the worker last reported")
    started_at: datetime = Field(description="when the run started")
    finished_at: datetime | None = Field(default=None, description="when it ended; none while it runs")
    synced: int = Field(default=0, description="items it wrote")
    failed: int = Field(default=0, description="items it sent to the dead-letter store")
    error: str | None = Field(default=None, description="why it failed or is retrying, when it is")


class BackfillStatus(StatusModel):
    """One of the spec's backfills, as the worker running it reports."""

    name: str = Field(description="the backfill's name in spec.backfills")
    phase: str = Field(description="Pending, Running, Completed, Partial (some writes refused) or Failed (retried)")
    entities: list[str] = Field(default_factory=list, description="the entity types walked so far")
    compared: int = Field(default=0, description="source entities read")
    written: int = Field(default=0, description="entities written again, since the target differed")
    failed: int = Field(default=0, description="writes the target refused")
    started_at: datetime | None = Field(default=None, description="when it started")
    finished_at: datetime | None = Field(default=None, description="when it ended")
    error: str | None = Field(default=None, description="why it failed, when it did")
    run: str | None = Field(default=None, description="the reconciliation run that carried it out (graphsync history)")


class CheckpointResetStatus(StatusModel):
    """One of the spec's checkpoint resets, as the worker applying it reports."""

    name: str = Field(description="the reset's name in spec.checkpointResets")
    checkpoint: str = Field(description="the checkpoint it sets: a stream group, slot, snapshot, watermark or commit")
    phase: str = Field(description="Pending, Applying, Applied or Refused (the message says why)")
    moved: int | None = Field(default=None, description="changes read again (back) or skipped (forward)")
    message: str | None = Field(default=None, description="what was done, or why it was refused")
    before: str | None = Field(default=None, description="the position before, as JSON")
    after: str | None = Field(default=None, description="the position after, as JSON")
    applied_at: datetime | None = Field(default=None, description="when it was applied")


class SchemaChangeStatus(StatusModel):
    """A change to a mapped table's columns, as the worker that found it reports."""

    entity: str = Field(description="the mapping's entity type")
    table: str = Field(description="the source table whose columns changed")
    changes: list[str] = Field(default_factory=list, description="each column added, dropped, renamed or retyped")
    phase: str = Field(description="Following (the entity type is written again) or Stopped (until accepted)")
    backfill: str | None = Field(default=None, description="the backfill that follows it (status.backfills)")
    detected_at: datetime | None = Field(default=None, description="when a worker found it")


_GENERATION = "the metadata.generation this status describes"
_PHASE = "Pending, Running, Scheduled, Suspended, Degraded or Invalid; the conditions say more"
_HANDLED = "request annotation values already acted on (each is acted on once)"


class SyncPipelineStatus(StatusModel):
    """What the operator and the pipeline's workers report: conditions, workers, progress and the spec's requests."""

    observed_generation: int | None = Field(default=None, description=_GENERATION)
    phase: Phase | None = Field(default=None, description=_PHASE)
    source: str | None = Field(default=None, description="the source kind")
    target: str | None = Field(default=None, description="the target kind")
    items_synced: int | None = Field(default=None, description="items written by the workers, as they reported")
    items_failed: int | None = Field(default=None, description="items in the dead-letter store")
    lag_seconds: float | None = Field(default=None, description="how long the slowest worker has been behind")
    checkpoint: str | None = Field(default=None, description="where the workers have read up to, as they report it")
    last_sync_time: datetime | None = Field(default=None, description="when a worker last wrote to the target")
    workers: str | None = Field(default=None, description="ready/desired, as kubectl shows it")
    ready_workers: int | None = Field(
        default=None, description="worker pods ready and reporting (the scale subresource's replicas)"
    )
    desired_workers: int | None = Field(default=None, description="worker pods asked for (0 while suspended)")
    selector: str | None = Field(default=None, description="the worker pods' label selector (the scale subresource's)")
    open_conflicts: int | None = Field(default=None, description="conflicts held for manual review (bidirectional)")
    last_reconciliation: LastReconciliation | None = Field(
        default=None, description="the newest run of a ReconciliationJob of this pipeline"
    )
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
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciling, Stalled, InSync, Degraded"
    )


class ReconciliationJobStatus(StatusModel):
    """What the operator reports of the job's runs."""

    observed_generation: int | None = Field(default=None, description=_GENERATION)
    phase: Phase | None = Field(default=None, description=_PHASE)
    last_run: LastReconciliation | None = Field(default=None, description="the newest run")
    handled_requests: dict[str, str] = Field(default_factory=dict, description=_HANDLED)
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready, Reconciling, Stalled, InSync, Degraded"
    )


class ConflictPolicyStatus(StatusModel):
    """Whether the policy is usable, and who uses it."""

    observed_generation: int | None = Field(default=None, description=_GENERATION)
    pipelines: list[str] = Field(default_factory=list, description="SyncPipelines that reference this policy")
    conditions: list[Condition] = Field(
        default_factory=list, description="Ready (the policy is valid) and Stalled (it is not)"
    )
