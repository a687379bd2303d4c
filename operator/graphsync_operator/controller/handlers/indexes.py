"""kopf's indexes: what its watches keep in memory, so that a status round costs no request.

kopf hands every index to every handler as a keyword argument named after its function; `Indexes` reads
them by what they hold. A kopf index maps each key to the values of every object that gave that key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import kopf

from graphsync_operator.api.specs import GROUP, VERSION
from graphsync_operator.build import names
from graphsync_operator.reports import WorkerReport, from_workloads, reports_in

MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY}
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rollout:
    """A pipeline's worker Deployment: pods asked for, pods ready, and whether it has caught up with its template."""

    desired: int
    ready: int
    rolled_out: bool

    @classmethod
    def of(cls, spec: Mapping[str, Any], status: Mapping[str, Any], meta: Mapping[str, Any]) -> Rollout:
        desired = int(spec.get("replicas", 1))
        caught_up = status.get("observedGeneration", 0) >= meta.get("generation", 0)
        return cls(
            desired=desired,
            ready=int(status.get("readyReplicas", 0)),
            rolled_out=caught_up and status.get("updatedReplicas", 0) >= desired,
        )


@dataclass(frozen=True)
class Indexes:
    """kopf's indexes, out of the keyword arguments of a handler (or of the startup handler, for the refresher)."""

    kwargs: Mapping[str, Any]

    def reports(self, namespace: str, owner: str, component: str) -> list[WorkerReport]:
        """What the `component` workers of resource `owner` report: from its own Lease, by pods of its own
        workloads."""
        lease = self.kwargs["progress"].get((namespace, names.lease(owner, component)), [])
        return from_workloads([r for reports in lease for r in reports], names.pod_prefixes(owner, component))

    def rollout(self, namespace: str, pipeline: str) -> Rollout | None:
        return next(iter(self.kwargs["rollouts"].get((namespace, pipeline), [])), None)

    def job_users(self, namespace: str, pipeline: str) -> list[str]:
        """The ReconciliationJobs that reconcile the pipeline."""
        return list(self.kwargs["job_users"].get((namespace, pipeline), []))

    def policy_users(self, namespace: str, policy: str) -> list[str]:
        """The pipelines that reference the ConflictPolicy, by name."""
        return sorted(self.kwargs["policy_users"].get((namespace, policy), []))

    def bodies(self, index: str) -> list[Mapping[str, Any]]:
        """Every resource the index `index` (pipeline_bodies, job_bodies or policy_bodies) holds."""
        return [body for bodies in list(self.kwargs[index].values()) for body in list(bodies)]


@kopf.index("coordination.k8s.io", "v1", "leases", labels=MANAGED)
def progress(namespace: str | None, name: str, annotations: Mapping[str, str], **_: Any) -> object:
    """(namespace, Lease name) -> the workers' reports in it.

    Keyed by the Lease's name, never by its labels: workers may patch their own Lease, labels included,
    so a label would let one pipeline's workers report for another; the name is fixed, and their Role names it.
    """
    reports, ignored = reports_in(annotations)
    for key in ignored:
        log.warning("ignoring a malformed worker report in %s/%s: %s", namespace, name, key)
    return {(namespace, name): tuple(reports)}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
def rollouts(
    namespace: str | None, labels: Mapping[str, str], spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, **_: Any
) -> object:
    """(namespace, pipeline) -> its Rollout."""
    return {(namespace, labels.get(names.PIPELINE_LABEL, "")): Rollout.of(spec, status, meta)}


@kopf.index(GROUP, VERSION, "reconciliationjobs")
def job_users(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> object:
    """(namespace, pipeline) -> the ReconciliationJobs that reconcile it."""
    pipeline = _ref(spec, "pipelineRef")
    return {(namespace, pipeline): name} if pipeline else None


@kopf.index(GROUP, VERSION, "syncpipelines")
def policy_users(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> object:
    """(namespace, policy) -> the pipelines that reference it."""
    policy = _ref(spec, "conflictPolicyRef")
    return {(namespace, policy): name} if policy else None


def _ref(spec: Mapping[str, Any], field: str) -> str | None:
    """The name a reference field of a spec gives. Read as written, not through the spec's model: a spec
    that does not validate still refers to what it names."""
    ref = spec.get(field) or {}
    return ref.get("name") or None


def snapshot(body: kopf.Body) -> dict[str, Any]:
    """A resource as plain data, for the indexes the status refresher reads."""
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": dict(body["metadata"]),
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }


@kopf.index(GROUP, VERSION, "syncpipelines")
def pipeline_bodies(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): snapshot(body)}


@kopf.index(GROUP, VERSION, "reconciliationjobs")
def job_bodies(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): snapshot(body)}


@kopf.index(GROUP, VERSION, "conflictpolicies")
def policy_bodies(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> object:
    return {(namespace, name): snapshot(body)}
