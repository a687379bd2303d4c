"""The custom resources' specs: the engine's models plus what only Kubernetes needs (workers, schedules).

These models are the one source of truth: the CRDs in `crds/` are generated from
them (`graphsync-operator crds`), and a test fails when the two drift.
"""

from __future__ import annotations

import enum
import re
from typing import Self

from pydantic import Field, model_validator

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync.spec.endpoints import NAME_PATTERN, CaptureMode
from graphsync.spec.pipeline import Mode, ObjectRef, PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_operator.api.pods import Workers

GROUP = "graphsync.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
# Children are named after the resource plus a suffix, and a CronJob's name may hold at most 52 characters.
MAX_NAME = 40

# Five fields (minute hour day month weekday) or a macro, as CronJobs take them.
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([-0-9A-Za-z*/,?]+\s+){4}[-0-9A-Za-z*/,?]+)$"
# Modes that run once and end, so they run on a schedule; the others run for as long as the pipeline exists.
SCHEDULED_MODES = (Mode.SNAPSHOT, Mode.DIFFERENTIAL)
ONE_SHOT_OR_POLLING = (Mode.SNAPSHOT, Mode.DIFFERENTIAL, Mode.INCREMENTAL)
# Modes whose workers share the work (a consumer group over the streams); the others have one writer each:
# a second replica would poll, snapshot or write both sides again, racing the first on one checkpoint.
SHARED_WORK_MODES = (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM)


class DeletionPolicy(enum.StrEnum):
    # Deleting the resource removes its Kubernetes objects only; triggers, streams and engine state stay.
    RETAIN = "retain"
    # First a cleanup Job removes what the pipeline created in the databases for its own bookkeeping
    # (capture triggers, the engine schema, streams and consumer groups, state keys); synced data stays.
    CLEANUP = "cleanup"


class SyncPipelineSpec(PipelineSpec):
    """The engine's pipeline spec (its `name` is the resource's name) plus how Kubernetes runs it."""

    workers: Workers = Field(default_factory=Workers)
    schedule: str | None = Field(
        default=None, pattern=CRON_PATTERN, description="cron schedule for modes snapshot, differential, incremental"
    )
    suspend: bool = Field(default=False, description="stop the workers (and the schedule) until set back to false")
    deletion_policy: DeletionPolicy = Field(
        default=DeletionPolicy.RETAIN,
        description="retain: deleting the resource leaves the databases alone; cleanup: a Job first removes what the"
        " pipeline made in them for its own bookkeeping (synced data stays)",
    )

    @model_validator(mode="after")
    def _schedule_fits(self) -> Self:
        if self.schedule is None and self.mode in SCHEDULED_MODES:
            raise ValueError(f"schedule: mode {self.mode.value} runs once per schedule; set a cron schedule")
        if self.schedule is not None and self.mode not in ONE_SHOT_OR_POLLING:
            modes = ", ".join(mode.value for mode in ONE_SHOT_OR_POLLING)
            raise ValueError(f"schedule: mode {self.mode.value} runs continuously; a schedule applies to {modes}")
        if self.schedule is not None:
            check_cron(self.schedule)
        if self.conflict_policy is not None and self.conflict_policy_ref is not None:
            raise ValueError("conflictPolicyRef: set conflictPolicy or conflictPolicyRef, not both")
        return self

    @model_validator(mode="after")
    def _one_writer(self) -> Self:
        postgres = self.source.postgres
        if self.workers.replicas > 1 and postgres is not None and postgres.capture is CaptureMode.LOGICAL:
            raise ValueError(
                "workers.replicas: capture logical reads one replication slot, which one session holds at a time;"
                " at most 1 replica"
            )
        if self.workers.replicas > 1 and self.mode not in SHARED_WORK_MODES:
            kind = "a files source" if self.source.files is not None else f"mode {self.mode.value}"
            shared = " and ".join(mode.value for mode in SHARED_WORK_MODES)
            raise ValueError(
                f"workers.replicas: {kind} runs one writer, so at most 1 replica; "
                f"only modes {shared} share work between replicas"
            )
        return self

    def engine_spec(self, name: str, namespace: str, policy: ConflictPolicySpec | None = None) -> PipelineSpec:
        """The spec a worker runs: named after the resource and its namespace (its identity), a referenced
        policy inlined."""
        data = self.model_dump(
            by_alias=True, exclude_none=True, exclude={"workers", "schedule", "suspend", "deletion_policy"}
        )
        data["name"] = name
        data["namespace"] = namespace
        if policy is not None:
            data.pop("conflictPolicyRef", None)
            data["conflictPolicy"] = policy.model_dump(by_alias=True, exclude_none=True)
        return PipelineSpec.model_validate(data)


class ReconciliationJobSpec(ReconcileSpec):
    """The engine's reconciliation options plus which pipeline, when, and whether paused."""

    pipeline_ref: ObjectRef = Field(description="the SyncPipeline of the namespace to reconcile")
    schedule: str = Field(pattern=CRON_PATTERN, description="cron schedule of the runs")
    suspend: bool = Field(default=False, description="skip the scheduled runs until set back to false")

    @model_validator(mode="after")
    def _schedule_valid(self) -> Self:
        check_cron(self.schedule)
        return self

    def job(self) -> ReconcileSpec:
        return ReconcileSpec.model_validate(
            self.model_dump(by_alias=True, exclude={"pipeline_ref", "schedule", "suspend"})
        )


# ConflictPolicy's spec is the engine's policy model unchanged.
ConflictPolicyResourceSpec = ConflictPolicySpec

_CRON_RANGES = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = re.compile(r"^[A-Za-z]{3}$")


def check_cron(schedule: str) -> None:
    """Raises ValueError naming the cron field that is out of range (the API server checks only the form)."""
    if schedule.startswith("@"):
        return
    for text, (what, low, high) in zip(schedule.split(), _CRON_RANGES, strict=True):
        for part in text.split(","):
            base, _, step = part.partition("/")
            if step and not (step.isdigit() and int(step) > 0):
                raise ValueError(f"schedule: {what} step {step!r} is not a positive number")
            if base in ("*", "?"):
                continue
            for bound in base.split("-", 1):
                if _NAMES.fullmatch(bound):
                    continue
                if not bound.isdigit() or not low <= int(bound) <= high:
                    raise ValueError(f"schedule: {what} {bound!r} is outside {low}-{high}")


def valid_name(name: str) -> str | None:
    """Why a resource name cannot be used (None when it can): children add suffixes to it."""
    if len(name) > MAX_NAME:
        return f"metadata.name: at most {MAX_NAME} characters (children are named after it), got {len(name)}"
    if not re.fullmatch(NAME_PATTERN, name):
        return "metadata.name: lower-case letters, digits and '-', starting and ending with a letter or digit"
    return None
