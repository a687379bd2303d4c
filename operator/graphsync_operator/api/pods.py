"""The worker pods of a resource, as its spec (`spec.workers`) and the chart's defaults describe them.

Kubernetes shapes (tolerations, affinity, volumes) are taken loosely: the builders pass them
through to the API server, which checks them deeply. The CRD names their fields where the
shape is small and keeps the rest (`x-kubernetes-preserve-unknown-fields`) where a full schema
would be huge, as CloudNativePG does for affinity. What is checked here is what the operator
itself relies on: its own labels, annotations, environment, volumes and mount points stay its own.
"""

from __future__ import annotations

import enum
import posixpath
import re
from collections import Counter
from collections.abc import Iterable
from typing import Annotated, Any, Self

from pydantic import Field, StrictInt, StrictStr, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.endpoints import NAME_PATTERN

# Mount points inside the worker container, and the volumes behind them: a spec's own volumes keep clear of them.
CONFIG_DIR = "/etc/graphsync"
CACHE_DIR = "/var/cache/graphsync"
# Where Secret keys the engine reads as files (TLS material) are mounted, one folder each (not under CONFIG_DIR: a
# mount point cannot be made inside the read-only config volume).
SECRETS_DIR = "/etc/graphsync-secrets"
TMP_DIR = "/tmp"  # noqa: S108 - an emptyDir: the root filesystem is read-only
OWN_MOUNTS = (CONFIG_DIR, CACHE_DIR, SECRETS_DIR, TMP_DIR)
OWN_VOLUMES = ("config", "cache", "tmp", "secrets")
# A read or a batch taking longer than this is stuck; above the longest retry backoff (30 s) and a big batch's apply.
# The default of spec.workers.stuckAfterSeconds, and the worker's when its environment does not say.
STUCK_SECONDS = 300.0

# A Kubernetes quantity (`500m`, `1Gi`, `2`): the API server normalises it, we only check its form.
Quantity = StrictInt | Annotated[StrictStr, Field(pattern=r"^[+]?[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")]
# Kept as written in the CRD (the API server checks the contents when it stores the worker's Deployment).
_KEPT: dict[str, Any] = {"x-kubernetes-preserve-unknown-fields": True}


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

    name: EnvName = Field(description="not one the worker reads itself (GRAPHSYNC_*, POD_*: refused)")
    value: str = Field(max_length=4096, description="the value")


class LogLevel(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


class Affinity(SpecModel):
    """Scheduling constraints of the worker pods, as in a Pod's `affinity` (checked by the API server)."""

    node_affinity: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=_KEPT,
        description="nodes the workers must or should run on, as a Pod's affinity.nodeAffinity",
    )
    pod_affinity: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=_KEPT,
        description="pods the workers must or should run near, as a Pod's affinity.podAffinity",
    )
    pod_anti_affinity: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=_KEPT,
        description="pods the workers must or should run away from (e.g. each other, across zones), as a Pod's"
        " affinity.podAntiAffinity",
    )


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
        default_factory=dict,
        description="extra labels of the worker pods; keys under app.kubernetes.io/ and graphsync.io/ are the"
        " operator's (it selects the pods by them) and refused",
    )
    pod_annotations: dict[str, Annotated[str, Field(max_length=4096)]] = Field(
        default_factory=dict,
        description="extra annotations of the worker pods; keys under app.kubernetes.io/ and graphsync.io/ are the"
        " operator's (a new config hash rolls the pods) and refused",
    )
    affinity: Affinity | None = Field(
        default=None, description="node affinity and pod (anti-)affinity of the worker pods, as in a Pod"
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
            affinity=self.affinity or defaults.affinity,
        )


# The volume kinds the restricted Pod Security Standard allows, by their field in a Pod's volume: the worker pods
# stay restricted (no host paths, no network filesystems mounted by the node), whatever a spec adds.
VOLUME_SOURCES = (
    "configMap",
    "secret",
    "emptyDir",
    "persistentVolumeClaim",
    "projected",
    "downwardAPI",
    "csi",
    "ephemeral",
)


def _source(kind: str, alias: str | None = None) -> Any:
    return Field(
        default=None, alias=alias, json_schema_extra=_KEPT, description=f"the {kind} source, as in a Pod's volume"
    )


class Volume(SpecModel):
    """An extra volume of the worker pods, as in a Pod's `volumes`: its name and exactly one source, of a kind the
    restricted Pod Security Standard allows (configMap, secret, emptyDir, persistentVolumeClaim, projected,
    downwardAPI, csi, ephemeral)."""

    name: str = Field(
        pattern=NAME_PATTERN,
        description="the name volumeMounts use; not config, cache, tmp or secrets (the operator's)",
    )
    config_map: dict[str, Any] | None = _source("configMap")
    secret: dict[str, Any] | None = _source("secret")
    empty_dir: dict[str, Any] | None = _source("emptyDir")
    persistent_volume_claim: dict[str, Any] | None = _source("persistentVolumeClaim")
    projected: dict[str, Any] | None = _source("projected")
    downward_api: dict[str, Any] | None = _source("downwardAPI", alias="downwardAPI")
    csi: dict[str, Any] | None = _source("csi")
    ephemeral: dict[str, Any] | None = _source("ephemeral")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        given = list(self.model_dump(by_alias=True, exclude_none=True, exclude={"name"}))
        if len(given) != 1:
            raise ValueError(
                f"volumes: {self.name}: exactly one of {', '.join(VOLUME_SOURCES)}, got {', '.join(given) or 'none'}"
            )
        return self


class VolumeMount(SpecModel):
    """Where the worker container sees one of `volumes`, as in a container's `volumeMounts`."""

    name: str = Field(pattern=NAME_PATTERN, max_length=63, description="one of workers.volumes")
    mount_path: str = Field(
        pattern=r"^/[^\x00]*$",
        max_length=4096,
        description=f"an absolute path, clear of the operator's {', '.join(OWN_MOUNTS)}",
    )
    sub_path: str | None = Field(default=None, max_length=4096, description="a path inside the volume to mount instead")
    read_only: bool | None = Field(default=None, description="mounted read-only (the root filesystem always is)")


def _mount_clash(path: str) -> str | None:
    """The operator's mount point that `path` is, lies under or holds, if any."""
    path = posixpath.normpath(path)
    for own in OWN_MOUNTS:
        if path == own or path.startswith(own + "/") or own.startswith(path.rstrip("/") + "/"):
            return own
    return None


class Workers(Placement):
    """The pods that run the pipeline: how many, where, with what."""

    replicas: int = Field(
        default=1,
        ge=0,
        le=64,
        description="worker pods (kubectl scale sets it); 0 stops syncing like suspend; more than 1 only where the"
        " workers share the work: modes continuous and snapshotThenStream, not with capture logical",
    )
    image: str | None = Field(default=None, pattern=r"^[^\s]+$", description="defaults to the operator's worker image")
    image_pull_policy: PullPolicy | None = Field(
        default=None, description="Always, IfNotPresent or Never; Kubernetes' default when unset"
    )
    resources: Resources | None = Field(default=None, description="requests and limits; sensible defaults if unset")
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=64,
        description="extra environment variables; GRAPHSYNC_* and POD_* are the operator's and refused",
    )
    volumes: list[Volume] = Field(
        default_factory=list,
        max_length=32,
        # Merged by name, as a Pod's volumes are: the API server refuses a name given twice.
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        description="extra volumes of the worker pods, for volumeMounts: each a name and one source of a kind the"
        " restricted Pod Security Standard allows (configMap, secret, emptyDir, persistentVolumeClaim, projected,"
        " downwardAPI, csi, ephemeral)",
    )
    volume_mounts: list[VolumeMount] = Field(
        default_factory=list,
        max_length=32,
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["mountPath"]},
        description="where the worker container mounts the extra volumes",
    )
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

    @model_validator(mode="after")
    def _not_the_operators_volumes(self) -> Self:
        names = [volume.name for volume in self.volumes]
        for name, count in Counter(names).items():
            if name in OWN_VOLUMES:
                raise ValueError(f"volumes: {name} is one of the operator's volumes ({', '.join(OWN_VOLUMES)})")
            if count > 1:
                raise ValueError(f"volumes: {name} is named twice")
        paths: set[str] = set()
        for mount in self.volume_mounts:
            if mount.name not in names:
                raise ValueError(f"volumeMounts: {mount.name} is not one of workers.volumes")
            own = _mount_clash(mount.mount_path)
            if own is not None:
                raise ValueError(f"volumeMounts: {mount.mount_path} meets the operator's mount point {own}")
            path = posixpath.normpath(mount.mount_path)
            if path in paths:
                raise ValueError(f"volumeMounts: {mount.mount_path} is mounted twice")
            paths.add(path)
        return self

    def placement(self) -> Placement:
        """Just where and how the pods run, to lay over the operator's defaults."""
        return Placement.model_validate(self.model_dump(include=set(Placement.model_fields)))
