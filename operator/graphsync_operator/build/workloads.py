"""Worker pods and what runs them: a Deployment for continuous modes, CronJobs for scheduled ones and reconciliation.

Every pod runs as a non-root user with a read-only root filesystem and no
capabilities; the operator's writable places are two emptyDirs (the Git cache and /tmp).
A spec's own placement, environment and volumes are added to the operator's, never in
their place: the models refuse what would clash, and the operator's labels come last.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphsync.spec.endpoints import SECRETS_DIR_ENV
from graphsync_operator.api.pods import Placement, Workers
from graphsync_operator.build import names
from graphsync_operator.build.config import Rendered
from graphsync_operator.build.names import Owner

HTTP_PORT = 8080
UID = 65532
DEFAULT_RESOURCES = {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


@dataclass(frozen=True)
class Defaults:
    """What the operator's own settings decide for every worker (a resource's `workers` may override the image)."""

    image: str
    pull_policy: str = "IfNotPresent"
    heartbeat_seconds: float = 10.0
    # The chart's `workers.podDefaults`, under each pipeline's own placement.
    placement: Placement = field(default_factory=Placement)


@dataclass(frozen=True)
class PodPlan:
    """One kind of worker pod: whose it is, what it runs, what it reports to."""

    owner: Owner
    pipeline: str
    component: str
    args: Sequence[str]
    rendered: Rendered
    workers: Workers
    probes: bool
    # Whose service account and Lease the pod uses, when not its own component's (a cleanup Job reports as sync).
    account: str | None = None

    @property
    def identity(self) -> str:
        return self.account or self.component


def pod_template(plan: PodPlan, defaults: Defaults) -> dict[str, Any]:
    workers = plan.workers
    env = _env(plan, defaults)
    files = [use.projection() for use in plan.rendered.secrets if use.file]
    # TLS material: one read-only volume, readable by the worker's group only.
    secrets_volume = {"name": "secrets", "projected": {"defaultMode": 0o440, "sources": files}}
    secrets_mount = {"name": "secrets", "mountPath": names.SECRETS_DIR, "readOnly": True}
    if files:
        env.append({"name": SECRETS_DIR_ENV, "value": names.SECRETS_DIR})
    container: dict[str, Any] = {
        "name": "worker",
        "image": workers.image or defaults.image,
        "imagePullPolicy": (workers.image_pull_policy or defaults.pull_policy),
        "command": ["graphsync-operator"],
        "args": ["worker", *plan.args],
        "env": env,
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "resources": (
            workers.resources.model_dump(by_alias=True)
            if workers.resources is not None
            else copy.deepcopy(DEFAULT_RESOURCES)
        ),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "config", "mountPath": names.CONFIG_DIR, "readOnly": True},
            {"name": "cache", "mountPath": names.CACHE_DIR},
            {"name": "tmp", "mountPath": names.TMP_DIR},
            *([secrets_mount] if files else []),
            *(mount.model_dump(by_alias=True, exclude_none=True) for mount in workers.volume_mounts),
        ],
    }
    if plan.probes:
        container["livenessProbe"] = _probe("/healthz", failures=3)
        container["readinessProbe"] = _probe("/readyz", failures=1)
    spec: dict[str, Any] = {
        "serviceAccountName": names.account(plan.owner.name, plan.identity),
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": names.config_map(plan.pipeline)}},
            {"name": "cache", "emptyDir": {}},
            {"name": "tmp", "emptyDir": {}},
            *([secrets_volume] if files else []),
            *(volume.model_dump(by_alias=True, exclude_none=True) for volume in workers.volumes),
        ],
    }
    placed = workers.placement().over(defaults.placement)
    spec.update(_placement(placed))
    return {
        "metadata": {
            # The operator's own labels and annotation last: they select and roll the pods.
            "labels": {**placed.pod_labels, **names.labels(plan.pipeline, plan.component, plan.owner.name)},
            # A new hash is a new pod template: the workers roll onto the new config.
            "annotations": {**placed.pod_annotations, names.CONFIG_HASH: plan.rendered.hash},
        },
        "spec": spec,
    }


def _env(plan: PodPlan, defaults: Defaults) -> list[dict[str, Any]]:
    """The worker's environment: who and where it is, how it reports and logs, the Secrets it reads as
    variables, then the spec's own variables."""
    workers = plan.workers
    return [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "GRAPHSYNC_LEASE", "value": names.lease(plan.owner.name, plan.identity)},
        {"name": "GRAPHSYNC_HTTP_PORT", "value": str(HTTP_PORT)},
        {"name": "GRAPHSYNC_HEARTBEAT_SECONDS", "value": f"{defaults.heartbeat_seconds:g}"},
        {"name": "GRAPHSYNC_STUCK_SECONDS", "value": str(workers.stuck_after_seconds)},
        {"name": "GRAPHSYNC_CACHE_DIR", "value": names.CACHE_DIR},
        {"name": "GRAPHSYNC_CONFIG_HASH", "value": plan.rendered.hash},
        # One JSON object per line, for the cluster's log pipeline (text stays the default on a laptop).
        {"name": "GRAPHSYNC_LOG_FORMAT", "value": "json"},
        {"name": "GRAPHSYNC_LOG_LEVEL", "value": workers.log_level.value},
        *(use.env_var() for use in plan.rendered.secrets if not use.file),
        *({"name": var.name, "value": var.value} for var in workers.env),
    ]


def _placement(placed: Placement) -> dict[str, Any]:
    """The pod spec's scheduling fields the spec and the chart's defaults set (absent when unset)."""
    found: dict[str, Any] = {}
    if placed.node_selector:
        found["nodeSelector"] = dict(placed.node_selector)
    if placed.tolerations:
        found["tolerations"] = [t.model_dump(by_alias=True, exclude_none=True) for t in placed.tolerations]
    if placed.image_pull_secrets:
        found["imagePullSecrets"] = [{"name": name} for name in placed.image_pull_secrets]
    if placed.priority_class_name:
        found["priorityClassName"] = placed.priority_class_name
    if placed.affinity is not None:
        found["affinity"] = placed.affinity.model_dump(by_alias=True, exclude_none=True)
    return found


def _probe(path: str, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 3,
        "failureThreshold": failures,
    }


def deployment(plan: PodPlan, defaults: Defaults, *, suspended: bool) -> dict[str, Any]:
    name = names.deployment(plan.owner.name)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": plan.owner.metadata(name, names.labels(plan.pipeline, plan.component)),
        "spec": {
            "replicas": 0 if suspended else plan.workers.replicas,
            "selector": {"matchLabels": names.selector(plan.owner.name, plan.component)},
            # Old and new workers never run side by side: modes like files or bidirectional expect one writer.
            "strategy": {"type": "Recreate"},
            "template": pod_template(plan, defaults),
        },
    }


def service(plan: PodPlan) -> dict[str, Any]:
    """Where Prometheus scrapes the workers' metrics."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": plan.owner.metadata(names.service(plan.owner.name), names.labels(plan.pipeline, "metrics")),
        "spec": {
            "type": "ClusterIP",
            # A worker that cannot reach its databases is unready, and its metrics matter most then.
            "publishNotReadyAddresses": True,
            "selector": names.selector(plan.owner.name, plan.component),
            "ports": [{"name": "metrics", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def cronjob(plan: PodPlan, defaults: Defaults, *, name: str, schedule: str, suspended: bool) -> dict[str, Any]:
    template = pod_template(plan, defaults)
    template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": plan.owner.metadata(name, names.labels(plan.pipeline, plan.component, plan.owner.name)),
        "spec": {
            "schedule": schedule,
            "suspend": suspended,
            # A run still going when the next is due is left to finish; the due one is skipped.
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 300,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": template["metadata"]["labels"]},
                "spec": job_spec(template, backoff=2),
            },
        },
    }


def job_spec(template: dict[str, Any], *, backoff: int) -> dict[str, Any]:
    """A crash or an eviction is retried; an exit the worker chose (1: items failed or drift found, 2: bad spec)
    is an answer, and running the same work again would not change it."""
    return {
        "backoffLimit": backoff,
        "ttlSecondsAfterFinished": 86400,
        "podFailurePolicy": {
            "rules": [
                {"action": "FailJob", "onExitCodes": {"containerName": "worker", "operator": "In", "values": [1, 2]}}
            ]
        },
        "template": template,
    }


# A cleanup drops triggers, a schema and keys: minutes at most. Past this its pod is stopped and the Job
# fails, so a cleanup that hangs (or whose pod never starts) is tried again instead of holding the deletion.
CLEANUP_DEADLINE_SECONDS = 1800


def job(plan: PodPlan, defaults: Defaults, *, name: str) -> dict[str, Any]:
    """A one-off Job (the cleanup before a pipeline is deleted)."""
    template = pod_template(plan, defaults)
    template["spec"]["restartPolicy"] = "Never"
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": plan.owner.metadata(name, names.labels(plan.pipeline, plan.component)),
        "spec": {**job_spec(template, backoff=3), "activeDeadlineSeconds": CLEANUP_DEADLINE_SECONDS},
    }


def job_now(cron: dict[str, Any], owner: Owner, request: str) -> dict[str, Any]:
    """A Job from a CronJob's template, as `kubectl create job --from=cronjob/...` makes one: "run it now"."""
    digest = hashlib.sha256(request.encode()).hexdigest()[:8]
    job_template = cron["spec"]["jobTemplate"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            **owner.metadata(f"{cron['metadata']['name']}-now-{digest}", dict(job_template["metadata"]["labels"])),
            "annotations": {"cronjob.kubernetes.io/instantiate": "manual", names.REQUEST: request},
        },
        "spec": copy.deepcopy(job_template["spec"]),
    }
