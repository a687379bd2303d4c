"""ReconciliationJob handlers: a CronJob running the reconciler against its pipeline, its runs in status.

The CronJob is rendered from the pipeline's spec (its config, Secrets and worker settings), so it is
rendered again whenever the pipeline is, and removed while the pipeline does not exist: a job never
runs against a config that is not the pipeline's any more.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import BaseModel, ValidationError

from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.specs import API_VERSION, GROUP, VERSION, ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.api.status import ReconciliationJobStatus
from graphsync_operator.build import children, names
from graphsync_operator.controller import assess
from graphsync_operator.controller.handlers.chores import chores
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.controller.handlers.handoff import (
    current_generation,
    held_by_handler,
    raise_for,
    resettled,
    stranded,
)
from graphsync_operator.controller.handlers.indexes import Indexes
from graphsync_operator.controller.handlers.observation import observed
from graphsync_operator.controller.handlers.preconditions import check_secrets, claim
from graphsync_operator.controller.handlers.resources import Resource
from graphsync_operator.controller.handlers.settings import defaults
from graphsync_operator.controller.handlers.specs import Invalid, Missing, field_errors, parse_spec, policy_of
from graphsync_operator.controller.handlers.statuses import publish, write_status


def _pipeline(namespace: str, job: ReconciliationJobSpec) -> SyncPipelineSpec:
    name = job.pipeline_ref.name
    found = kube().get(API_VERSION, "SyncPipeline", namespace, name)
    if found is None:
        raise Missing(Reason.PIPELINE_MISSING, f"spec.pipelineRef: SyncPipeline {name!r} does not exist")
    try:
        pipeline = SyncPipelineSpec.model_validate(dict(found["spec"]))
    except ValidationError as exc:
        raise Missing(Reason.PIPELINE_INVALID, f"SyncPipeline {name!r}: {field_errors(exc, 'spec')}") from None
    if pipeline.mappings is not None:
        try:
            job.job().check_against(pipeline.mappings)
        except ValueError as exc:
            # Retried: the pipeline's mappings may be what changes, not this job.
            raise Missing(Reason.PIPELINE_INVALID, f"spec.{exc}") from None
    return pipeline


@kopf.on.resume(GROUP, VERSION, "reconciliationjobs")
@kopf.on.create(GROUP, VERSION, "reconciliationjobs")
@kopf.on.update(GROUP, VERSION, "reconciliationjobs", field="spec")
@observed("ReconciliationJob")
def reconcile_job(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
    resource = Resource.of(body)
    status, problem = settle_job(resource, Indexes(kwargs))
    publish(resource, patch, status)
    raise_for(problem, retry)


def settle_job(resource: Resource, indexes: Indexes) -> tuple[ReconciliationJobStatus, assess.Problem | None]:
    """Apply the job's CronJob; the status that follows, and what stood in the way (to retry, unless permanent)."""
    job, problem = apply_job(resource)
    return _status(resource, indexes, problem, suspended=bool(job and job.suspend)), problem


def render_jobs(namespace: str, pipeline: str, indexes: Indexes) -> None:
    """After the pipeline's children were applied (or it was deleted): its jobs' CronJobs follow, and
    their statuses say so at once instead of at their next retry."""
    for name in sorted(indexes.job_users(namespace, pipeline)):
        found = kube().get(API_VERSION, "ReconciliationJob", namespace, name)
        resource = Resource.of(found) if found is not None else None
        if resource is None or resource.deleting:
            continue
        job, problem = apply_job(resource)
        write_status(resource, _status(resource, indexes, problem, suspended=bool(job and job.suspend)))


@kopf.on.event(GROUP, VERSION, "syncpipelines")
async def pipeline_gone(type: str, name: str, namespace: str | None, **kwargs: Any) -> None:
    """A deleted pipeline's jobs stop: their CronJobs go, their status says PipelineMissing.

    A coroutine, since kopf calls it for every event of every pipeline: all but deletions end here at
    once, instead of each taking a thread of kopf's pool (and a handler's log scope and metrics)."""
    if type == "DELETED" and namespace is not None:
        await asyncio.to_thread(render_jobs, namespace, name, Indexes(kwargs))


def apply_job(resource: Resource) -> tuple[ReconciliationJobSpec | None, assess.Problem | None]:
    """Build and apply the job's CronJob; what stands in the way instead, as the status shows it.
    Without its pipeline, the CronJob is removed (its pods would mount a config that is gone)."""
    owner = resource.owner
    job = None
    try:
        job = parse_spec(resource.body, ReconciliationJobSpec)
        pipeline = _pipeline(owner.namespace, job)
        built = children.reconciliation(owner, job, pipeline, defaults(), policy_of(owner.namespace, pipeline))
        check_secrets(owner.namespace, built)
        claim(built.manifests)
    except Invalid as exc:
        return job, assess.Problem(Reason.INVALID_SPEC, str(exc), permanent=True)
    except Missing as exc:
        if exc.reason is Reason.PIPELINE_MISSING:
            kube().delete_owned("batch/v1", "CronJob", owner.namespace, names.reconcile_cronjob(owner.name), owner.uid)
        return job, assess.Problem(exc.reason, exc.message)
    for manifest in built.manifests:
        kube().apply(manifest)
    return job, None


async def refresh_job(resource: Resource, indexes: Indexes) -> BaseModel | None:
    """The newest run from the Lease reports (for the refresher); a reconcile-now request starts a Job."""
    if stranded(resource.body, datetime.now(UTC)):
        return await resettled(resource.uid, lambda: settle_job(resource, indexes))
    if not current_generation(resource.body) or held_by_handler(resource.status):
        return None
    cron = names.reconcile_cronjob(resource.name)
    handled = await chores(resource, indexes, names.RECONCILE, names.RECONCILE_NOW, cron)
    return _status(resource, indexes, None, suspended=bool(resource.spec.get("suspend")), handled=handled)


def _status(
    resource: Resource,
    indexes: Indexes,
    problem: assess.Problem | None,
    *,
    suspended: bool = False,
    handled: dict[str, str] | None = None,
) -> ReconciliationJobStatus:
    name = resource.name
    runs = [(name, report) for report in indexes.reports(resource.namespace, name, names.RECONCILE)]
    observed = assess.Observed(
        generation=resource.generation,
        now=datetime.now(UTC),
        suspended=suspended,
        scheduled=True,
        reports=[report for _, report in runs],
        heartbeat_seconds=defaults().heartbeat_seconds,
        problem=problem,
        reconciliations=runs,
        previous=resource.conditions(),
    )
    status = assess.reconciliation_status(observed)
    status.handled_requests = handled if handled is not None else resource.handled_requests()
    return status
