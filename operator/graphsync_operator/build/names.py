"""Every name the operator gives: its labels and annotations, and its children's names (fixed, so re-running a
handler finds the same objects again)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphsync_operator.api import pods
from graphsync_operator.api.specs import API_VERSION

PART_OF = "graphsync"
MANAGED_BY = "graphsync-operator"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
PIPELINE_LABEL = "graphsync.io/pipeline"
# On the worker pod template: a changed config rolls the workers.
CONFIG_HASH = "graphsync.io/config-hash"
# "Run now" requests a user writes on a resource; the operator acts once per value.
SYNC_NOW = "graphsync.io/sync-now"
RECONCILE_NOW = "graphsync.io/reconcile-now"
# On a Job started by a run-now request: the request's value.
REQUEST = "graphsync.io/request"
# Held by a pipeline with deletionPolicy cleanup until its cleanup has run.
FINALIZER = "graphsync.io/cleanup"
# kopf's own bookkeeping annotations on each resource: the spec it last handled, and its handlers' progress.
KOPF_PREFIX = "kopf.graphsync.io"
# Mount points inside the worker container: the pods module keeps a spec's own volumes clear of them.
CONFIG_DIR = pods.CONFIG_DIR
CONFIG_FILE = f"{CONFIG_DIR}/pipeline.yaml"
CACHE_DIR = pods.CACHE_DIR
SECRETS_DIR = pods.SECRETS_DIR
TMP_DIR = pods.TMP_DIR
# The workers of a resource, by what they do; each kind reports to a Lease of its own.
SYNC = "sync"
RECONCILE = "reconcile"
CLEANUP = "cleanup"


@dataclass(frozen=True)
class Owner:
    """The custom resource whose children these are: they carry its owner reference and are collected with it."""

    kind: str
    name: str
    namespace: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }

    def metadata(self, name: str, labels: dict[str, str]) -> dict[str, Any]:
        return {"name": name, "namespace": self.namespace, "labels": labels, "ownerReferences": [self.reference()]}


def labels(pipeline: str, component: str, instance: str | None = None) -> dict[str, str]:
    """`instance` is the resource the object belongs to (the ReconciliationJob for its CronJob)."""
    return {
        "app.kubernetes.io/name": "graphsync-worker",
        "app.kubernetes.io/instance": instance or pipeline,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        MANAGED_BY_LABEL: MANAGED_BY,
        PIPELINE_LABEL: pipeline,
    }


def selector(instance: str, component: str) -> dict[str, str]:
    return {"app.kubernetes.io/instance": instance, "app.kubernetes.io/component": component}


def selector_text(instance: str, component: str) -> str:
    """The selector as a label query (`k=v,k=v`), as the scale subresource gives it to autoscalers."""
    return ",".join(f"{key}={value}" for key, value in selector(instance, component).items())


def config_map(pipeline: str) -> str:
    return f"{pipeline}-pipeline"


def deployment(pipeline: str) -> str:
    return f"{pipeline}-worker"


def service(pipeline: str) -> str:
    return f"{pipeline}-metrics"


def sync_cronjob(pipeline: str) -> str:
    return f"{pipeline}-sync"


def reconcile_cronjob(job: str) -> str:
    return f"{job}-reconcile"


def cleanup_job(pipeline: str) -> str:
    return f"{pipeline}-cleanup"


def account(owner: str, component: str) -> str:
    """The service account, Role and RoleBinding of one resource's workers."""
    return f"{owner}-{component}"


def lease(owner: str, component: str) -> str:
    return f"{owner}-{component}-progress"


def pod_prefixes(owner: str, component: str) -> tuple[str, ...]:
    """How the names of the pods that report to `lease(owner, component)` begin: those of its workloads'
    pods (a Deployment's, a CronJob's and the Jobs made from it, the cleanup Job's)."""
    if component == RECONCILE:
        return (f"{reconcile_cronjob(owner)}-",)
    return (f"{deployment(owner)}-", f"{sync_cronjob(owner)}-", f"{cleanup_job(owner)}-")
