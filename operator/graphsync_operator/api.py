"""The custom resources' specs: the engine's models plus what only Kubernetes needs (workers, schedules).

These models are the one source of truth: the CRDs in `crds/` are generated from
them (`graphsync-operator crds`), and a test fails when the two drift.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Annotated, Self

from pydantic import Field, StrictInt, StrictStr, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync.spec.endpoints import NAME_PATTERN, CaptureMode
from graphsync.spec.pipeline import Mode, ObjectRef, PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_operator.progress import STUCK_SECONDS

GROUP = "graphsync.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
# Children are named after the resource plus a suffix, and a CronJob's name may hold at most 52 characters.
MAX_NAME = 40

# A Kubernetes quantity (`500m`, `1Gi`, `2`): the API server normalises it, we only check its form.
Quantity = StrictInt | Annotated[StrictStr, Field(pattern=r"^[+]?[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")]
# Five fields (minute hour day month weekday) or a macro, as CronJobs take them.
CRON_PATTERN = r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|([-0-9A-Za-z*/,?]+\s+){4}[-0-9A-Za-z*/,?]+)$"
# Modes that run once and end, so they run on a schedule; the others run for as long as the pipeline exists.
SCHEDULED_MODES = (Mode.SNAPSHOT, Mode.DIFFERENTIAL)
ONE_SHOT_OR_POLLING = (Mode.SNAPSHOT, Mode.DIFFERENTIAL, Mode.INCREMENTAL)
# Modes whose workers share the work (a consumer group over the streams); the others have one writer each:
# a second replica would poll, snapshot or write both sides again, racing the first on one checkpoint.
SHARED_WORK_MODES = (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM)


class Resources(SpecModel):
    """CPU and memory of each worker container, as Kubernetes quantities."""

    requests: dict[str, Quantity] = Field(default_factory=dict, description="reserved, e.g. {cpu: 250m, memory: 256Mi}")
    limits: dict[str, Quantity] = Field(default_factory=dict, description="the most allowed, e.g. {memory: 1Gi}")


class TolerationOperator(enum.StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class Toleration(SpecModel):
    """A taint the workers tolerate, as in a Pod's tolerations."""

    key: str | None = Field(default=None, max_length=317, description="the taint's key; none with Exists: every taint")
    operator: TolerationOperator = Field(default=TolerationOperator.EQUAL, description="Equal or Exists")
    value: str | None = Field(default=None, max_length=63, description="the taint's value, for Equal")
    effect: TaintEffect | None = Field(
        default=None, description="NoSchedule, PreferNoSchedule or NoExecute; none: every effect"
    )
    toleration_seconds: int | None = Field(
        default=None, ge=0, description="NoExecute: how long the pod stays on a node after the taint appears"
    )


class PullPolicy(enum.StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


# A label or annotation key: an optional DNS-subdomain prefix and "/", then a name of up to 63 characters.
_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
# Keys the operator sets on worker pods itself: a spec may not override them.
_OWN_PREFIXES = ("app.kubernetes.io/", "graphsync.io/")
LabelValue = Annotated[str, Field(max_length=63, pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")]
EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


def _own_keys(keys: Iterable[str], field: str) -> None:
    for key in keys:
        if not _KEY.match(key):
            raise ValueError(f"{field}: {key!r} is not a label or annotation key (e.g. team, example.com/owner)")
        if key.startswith(_OWN_PREFIXES):
            raise ValueError(f"{field}: {key!r} is set by the operator (keys under {', '.join(_OWN_PREFIXES)})")


class EnvVar(SpecModel):
    """An extra environment variable of the workers (a plain value; secrets go through the spec's password fields)."""

    name: EnvName = Field(description="not one the worker reads itself (GRAPHSYNC_*, POD_*)")
    value: str = Field(max_length=4096, description="the value")


class LogLevel(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


class Placement(SpecModel):
    """Where and how worker pods run in the cluster: a pipeline's own (`workers`), or the defaults the operator's
    chart gives every pipeline (`workers.podDefaults`), which a pipeline's own settings override."""

    node_selector: dict[str, str] = Field(default_factory=dict, description="node labels a worker's node must have")
    tolerations: list[Toleration] = Field(default_factory=list, description="taints of nodes the workers may run on")
    image_pull_secrets: list[Annotated[str, Field(pattern=NAME_PATTERN)]] = Field(
        default_factory=list, description="Secrets (in the pipeline's namespace) to pull the worker image with"
    )
    priority_class_name: str | None = Field(
        default=None, pattern=NAME_PATTERN, description="the PriorityClass of the worker pods"
    )
    pod_labels: dict[str, LabelValue] = Field(
        default_factory=dict, description="extra labels of the worker pods (not app.kubernetes.io/ or graphsync.io/)"
    )
    pod_annotations: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict, description="extra annotations of the worker pods (not graphsync.io/ ones)"
    )

    @model_validator(mode="after")
    def _not_the_operators_keys(self) -> Self:
        _own_keys(self.pod_labels, "podLabels")
        _own_keys(self.pod_annotations, "podAnnotations")
        return self

    def over(self, defaults: Placement) -> Placement:
        """These settings over `defaults`: maps merged (these win), lists and single values these when set."""
        return Placement(
            node_selector={**defaults.node_selector, **self.node_selector},
            tolerations=self.tolerations or defaults.tolerations,
            image_pull_secrets=self.image_pull_secrets or defaults.image_pull_secrets,
            priority_class_name=self.priority_class_name or defaults.priority_class_name,
            pod_labels={**defaults.pod_labels, **self.pod_labels},
            pod_annotations={**defaults.pod_annotations, **self.pod_annotations},
        )


class Workers(Placement):
    """The pods that run the pipeline: how many, where, with what."""

    replicas: int = Field(default=1, ge=0, le=64, description="worker pods; 0 stops syncing like suspend")
    image: str | None = Field(default=None, pattern=r"^[^\s]+$", description="defaults to the operator's worker image")
    image_pull_policy: PullPolicy | None = Field(
        default=None, description="Always, IfNotPresent or Never; Kubernetes' default when unset"
    )
    resources: Resources | None = Field(default=None, description="requests and limits; sensible defaults if unset")
    env: list[EnvVar] = Field(default_factory=list, max_length=64, description="extra environment variables")
    log_level: LogLevel = Field(
        default=LogLevel.INFO,
        description="how much the workers log: error, warning, info or debug (debug: one line per batch naming"
        " each change and the application's correlation_id)",
    )
    stuck_after_seconds: int = Field(
        default=int(STUCK_SECONDS),
        ge=10,
        le=86400,
        description="a worker whose reads and writes have not come back for this long reports stuck and is "
        "restarted by its liveness probe; above the longest batch write or bidirectional bucket",
    )

    @model_validator(mode="after")
    def _not_the_operators_env(self) -> Self:
        taken = [var.name for var in self.env if var.name.startswith(("GRAPHSYNC_", "POD_"))]
        if taken:
            raise ValueError(f"env: {', '.join(taken)}: GRAPHSYNC_* and POD_* are set by the operator")
        names = [var.name for var in self.env]
        if len(set(names)) != len(names):
            raise ValueError("env: each variable once")
        return self

    def placement(self) -> Placement:
        """Just where and how the pods run, to lay over the operator's defaults."""
        return Placement.model_validate(self.model_dump(include=set(Placement.model_fields)))


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
