"""ReconciliationJob handlers: a CronJob running the reconciler against its pipeline, its runs in status."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import BaseModel, ValidationError

from graphsync_operator import assess
from graphsync_operator.api import API_VERSION, ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.build import children, names
from graphsync_operator.handlers.pipelines import policy_of
from graphsync_operator.handlers.shared import (
    GROUP,
    RECONCILE_NOW,
    VERSION,
    Invalid,
    Missing,
    check_secrets,
    chores,
    current_generation,
    defaults,
    field_errors,
    held_by_handler,
    kube,
    owner_of,
    parse_spec,
    previous_conditions,
    publish,
)
from graphsync_operator.progress import WorkerReport
from graphsync_operator.status import ReconciliationJobStatus


def _pipeline(namespace: str, job: ReconciliationJobSpec) -> SyncPipelineSpec:
    name = job.pipeline_ref.name
    found = kube().get(API_VERSION, "SyncPipeline", namespace, name)
    if found is None:
        raise Missing("PipelineMissing", f"spec.pipelineRef: SyncPipeline {name!r} does not exist")
    try:
        pipeline = SyncPipelineSpec.model_validate(dict(found["spec"]))
    except ValidationError as exc:
        raise Missing("PipelineInvalid", f"SyncPipeline {name!r}: {field_errors(exc, 'spec')}") from None
    if pipeline.mappings is not None:
        try:
            job.job().check_against(pipeline.mappings)
        except ValueError as exc:
            # Retried: the pipeline's mappings may be what changes, not this job.
            raise Missing("PipelineInvalid", f"spec.{exc}") from None
    return pipeline


@kopf.on.resume(GROUP, VERSION, "reconciliationjobs")
@kopf.on.create(GROUP, VERSION, "reconciliationjobs")
@kopf.on.update(GROUP, VERSION, "reconciliationjobs", field="spec")
def reconcile_job(body: Any, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
    owner = owner_of(body)
    try:
        job = parse_spec(body, ReconciliationJobSpec)
        pipeline = _pipeline(owner.namespace, job)
        built = children.reconciliation(owner, job, pipeline, defaults(), policy_of(owner.namespace, pipeline))
        check_secrets(owner.namespace, built)
    except Invalid as exc:
        _write_status(body, patch, kwargs, assess.Problem("InvalidSpec", str(exc), permanent=True))
        raise kopf.PermanentError(str(exc)) from None
    except Missing as exc:
        _write_status(body, patch, kwargs, assess.Problem(exc.reason, exc.message))
        raise kopf.TemporaryError(exc.message, delay=min(300, 10 * 2**retry)) from None
    for manifest in built.manifests:
        kube().apply(manifest)
    _write_status(body, patch, kwargs, None, suspended=job.suspend)


async def refresh_job(body: Any, indexes: Mapping[str, Any]) -> BaseModel | None:
    """The newest run from the Lease reports (for the refresher); a reconcile-now request starts a Job."""
    if not current_generation(body) or held_by_handler(body.get("status") or {}):
        return None
    meta = body["metadata"]
    key = (meta["namespace"], (body["spec"].get("pipelineRef") or {}).get("name", ""))
    handled = await chores(body, indexes, key, RECONCILE_NOW, names.reconcile_cronjob(meta["name"]))
    return _status(body, indexes, None, suspended=bool(body["spec"].get("suspend")), handled=handled)


def _write_status(
    body: Any,
    patch: kopf.Patch,
    indexes: Mapping[str, Any],
    problem: assess.Problem | None,
    *,
    suspended: bool = False,
) -> None:
    publish(body, patch, _status(body, indexes, problem, suspended=suspended))


def _status(
    body: Any,
    indexes: Mapping[str, Any],
    problem: assess.Problem | None,
    *,
    suspended: bool = False,
    handled: dict[str, str] | None = None,
) -> ReconciliationJobStatus:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    pipeline = (body["spec"].get("pipelineRef") or {}).get("name", "")
    runs: list[tuple[str, WorkerReport]] = []
    for owner, component, reports in indexes["progress"].get((namespace, pipeline), []):
        if component == children.RECONCILE and owner == name:
            runs.extend((owner, report) for report in reports)
    observed = assess.Observed(
        generation=int(meta.get("generation", 0)),
        now=datetime.now(UTC),
        suspended=suspended,
        scheduled=True,
        reports=[report for _, report in runs],
        heartbeat_seconds=defaults().heartbeat_seconds,
        problem=problem,
        reconciliations=runs,
        previous=previous_conditions(body),
    )
    status = assess.reconciliation_status(observed)
    status.handled_requests = (
        handled if handled is not None else (body.get("status") or {}).get("handledRequests") or {}
    )
    return status
