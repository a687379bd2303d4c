"""SyncPipeline handlers: children applied on every spec change, status refreshed from the indexes."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import BaseModel, ValidationError

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.specs import GROUP, VERSION, DeletionPolicy, SyncPipelineSpec
from graphsync_operator.api.status import SyncPipelineStatus as SyncPipelineStatusModel
from graphsync_operator.build import children, names
from graphsync_operator.build.names import Owner
from graphsync_operator.controller import assess
from graphsync_operator.controller.cleanup import WAITING, CleanupState, cleanup_progress
from graphsync_operator.controller.handlers.chores import chores
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.controller.handlers.ending import let_go, namespace_ending
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
from graphsync_operator.controller.handlers.reconciliations import render_jobs
from graphsync_operator.controller.handlers.resources import Resource
from graphsync_operator.controller.handlers.settings import defaults
from graphsync_operator.controller.handlers.specs import Invalid, Missing, field_errors, parse_spec, policy_of
from graphsync_operator.controller.handlers.statuses import post, publish
from graphsync_operator.kube import KubeError
from graphsync_operator.reports import annotation_key


@kopf.on.resume(GROUP, VERSION, "syncpipelines")
@kopf.on.create(GROUP, VERSION, "syncpipelines")
@kopf.on.update(GROUP, VERSION, "syncpipelines", field="spec")
@observed("SyncPipeline")
def reconcile_pipeline(body: kopf.Body, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
    scheduled = scheduled_before(body, kwargs.get("reason"), kwargs.get("old"))
    pipeline = Resource.of(body)
    status, problem = settle_pipeline(pipeline, Indexes(kwargs), scheduled)
    publish(pipeline, patch, status)
    raise_for(problem, retry)


def settle_pipeline(
    pipeline: Resource, indexes: Indexes, scheduled: bool | None = None
) -> tuple[SyncPipelineStatusModel, assess.Problem | None]:
    """Apply the spec's children; the status that follows, and what stood in the way (to retry, unless permanent)."""
    try:
        spec, built = apply_pipeline(pipeline, scheduled)
    except Invalid as exc:
        problem = assess.Problem(Reason.INVALID_SPEC, str(exc), permanent=True)
        return _status(pipeline, indexes, problem), problem
    except Missing as exc:
        problem = assess.Problem(exc.reason, exc.message)
        return _status(pipeline, indexes, problem), problem
    finally:
        # Its reconciliation jobs follow the pipeline, whatever became of it (an invalid one stops them).
        render_jobs(pipeline.namespace, pipeline.name, indexes)
    return _status(pipeline, indexes, None, config_hash=built.rendered.hash, spec=spec), None


def scheduled_before(body: Mapping[str, Any], reason: object, old: object) -> bool | None:
    """Whether the pipeline ran on a schedule before this change; None when unknown (a resumed operator)."""
    if reason == "create":
        return bool(body["spec"].get("schedule"))  # nothing ran before: nothing to remove
    if reason == "update" and isinstance(old, dict) and "spec" in old:
        return bool((old.get("spec") or {}).get("schedule"))
    return None


def apply_pipeline(
    pipeline: Resource, scheduled_before: bool | None = None
) -> tuple[SyncPipelineSpec, children.Children]:
    """Build and apply a pipeline's children; raises Invalid or Missing before writing anything.

    The children of the other way of running (a Deployment, or a CronJob) are deleted when the
    spec switched, or when that is unknown (a resumed operator), never on every update."""
    owner = pipeline.owner
    spec = parse_spec(pipeline.body, SyncPipelineSpec)
    built = build_pipeline(owner, spec, policy_of(owner.namespace, spec))
    check_secrets(owner.namespace, built)
    claim(built.manifests)
    for manifest in built.manifests:
        try:
            kube().apply(manifest)
        except KubeError as exc:
            if exc.status not in (400, 422):
                raise
            # The API server refused what the spec asked for (a toleration, a resource): it names the field.
            raise Invalid(f"{manifest['kind']} {manifest['metadata']['name']}: {exc}") from None
    if scheduled_before is None or scheduled_before != (spec.schedule is not None):
        for api_version, kind, name in built.obsolete:
            kube().delete_owned(api_version, kind, owner.namespace, name, owner.uid)
    return spec, built


def build_pipeline(owner: Owner, spec: SyncPipelineSpec, policy: ConflictPolicySpec | None) -> children.Children:
    """The children, or Invalid naming the field: a spec the API server accepted that cannot be built (with
    its policy inlined, say) ends in a status, never in a handler retried for ever."""
    try:
        return children.pipeline(owner, spec, defaults(), policy)
    except ValidationError as exc:
        raise Invalid(field_errors(exc, "spec")) from None
    except ValueError as exc:
        raise Invalid(f"spec: {exc}") from None


async def refresh_pipeline(pipeline: Resource, indexes: Indexes) -> BaseModel | None:
    """The status as the indexes show it now (for the refresher); None while the spec handler owns it.
    Acts on a sync-now request on the way."""
    if stranded(pipeline.body, datetime.now(UTC)):
        return await resettled(pipeline.uid, lambda: settle_pipeline(pipeline, indexes))
    if not current_generation(pipeline.body) or held_by_handler(pipeline.status):
        return None  # the spec handler writes the status until it has applied this generation
    try:
        spec = SyncPipelineSpec.model_validate(dict(pipeline.spec))
    except ValidationError:
        return None
    cron = names.sync_cronjob(pipeline.name) if spec.schedule else None
    handled = await chores(pipeline, indexes, names.SYNC, names.SYNC_NOW, cron)
    config_hash = pipeline.status.get("configHash")
    return _status(pipeline, indexes, None, config_hash=config_hash, spec=spec, handled=handled)


def _status(
    pipeline: Resource,
    indexes: Indexes,
    problem: assess.Problem | None,
    *,
    config_hash: str | None = None,
    spec: SyncPipelineSpec | None = None,
    handled: dict[str, str] | None = None,
) -> SyncPipelineStatusModel:
    namespace, name = pipeline.namespace, pipeline.name
    previous = pipeline.conditions()
    reconciliations = [
        (job, report)
        for job in indexes.job_users(namespace, name)
        for report in indexes.reports(namespace, job, names.RECONCILE)
    ]
    rollout = indexes.rollout(namespace, name)
    ready_since = next((c.last_transition_time for c in previous if c.type == "Ready"), None)
    observed = assess.Observed(
        generation=pipeline.generation,
        now=datetime.now(UTC),
        suspended=bool(spec and spec.suspend),
        scheduled=bool(spec and spec.schedule),
        desired=(spec.workers.replicas if spec and not spec.suspend else 0),
        ready_pods=rollout.ready if rollout else 0,
        rolled_out=bool(rollout and rollout.rolled_out) or bool(spec and spec.schedule),
        applied_at=ready_since,
        reports=indexes.reports(namespace, name, names.SYNC),
        heartbeat_seconds=defaults().heartbeat_seconds,
        problem=problem,
        reconciliations=reconciliations,
        source=_kind_of(pipeline.spec.get("source")),
        target=_kind_of(pipeline.spec.get("target")),
        config_hash=config_hash,
        previous=previous,
    )
    status = assess.pipeline_status(observed)
    status.selector = names.selector_text(name, names.SYNC)
    status.handled_requests = handled if handled is not None else pipeline.handled_requests()
    return status


def _kind_of(section: object) -> str | None:
    """Which kind of endpoint a spec's source or target section sets, read as written: an invalid spec's
    status names it too."""
    if not isinstance(section, dict):
        return None
    return next((kind for kind in section if section[kind] is not None), None)


def _cleans_up(spec: kopf.Spec, **_: Any) -> bool:
    return bool(spec.get("deletionPolicy") == DeletionPolicy.CLEANUP.value)


@kopf.on.delete(GROUP, VERSION, "syncpipelines", when=_cleans_up)
@observed("SyncPipeline")
def clean_up_pipeline(body: kopf.Body, retry: int, **kwargs: Any) -> None:
    """deletionPolicy cleanup: stop the workers, run the cleanup Job, and let the resource go once it finished.

    The finalizer this handler implies holds the resource (and so, through owner references,
    its Secret access, ConfigMap and Lease) until the databases are clean.
    """
    pipeline = Resource.of(body)
    owner = pipeline.owner
    try:
        spec = parse_spec(body, SyncPipelineSpec)
    except Invalid as exc:
        post(pipeline, [("Warning", "CleanupSkipped", f"the spec cannot run: {exc}")])
        return
    if namespace_ending(owner.namespace):
        # No Job can be made there: holding the finalizer would hold the namespace for ever.
        let_go(owner.namespace, owner.name, owner.uid)
        return
    # Workers first: one still running would recreate what the cleanup removes.
    kube().delete_owned("apps/v1", "Deployment", owner.namespace, names.deployment(owner.name), owner.uid)
    kube().delete_owned("batch/v1", "CronJob", owner.namespace, names.sync_cronjob(owner.name), owner.uid)
    reports = Indexes(kwargs).reports(owner.namespace, owner.name, names.SYNC)
    name = names.cleanup_job(owner.name)
    found = kube().get("batch/v1", "Job", owner.namespace, name)
    verdict = cleanup_progress(
        reports, name, datetime.now(UTC), defaults().heartbeat_seconds, (found or {}).get("status")
    )
    if retry % 12 == 11 and verdict.state in WAITING:
        # About once a minute, so a deletion that waits says why (set deletionPolicy: retain to skip the cleanup).
        post(pipeline, [("Warning", "CleanupWaiting", f"deletion waits for the cleanup: {verdict}")])
    if verdict.state is CleanupState.WORKERS_RUNNING:
        raise kopf.TemporaryError("waiting for the workers to stop before cleaning up", delay=5)
    if verdict.state is CleanupState.DONE:
        post(pipeline, [("Normal", "CleanedUp", "engine triggers, state and streams removed")])
        return
    if verdict.state is CleanupState.FAILED:
        post(pipeline, [("Warning", "CleanupFailed", str(verdict))])
    try:
        job = children.cleanup(owner, spec, defaults(), policy_of(owner.namespace, spec))
    except Missing as exc:
        raise kopf.TemporaryError(exc.message, delay=30) from None
    if verdict.state is CleanupState.FAILED:
        # A new attempt: the failed Job and its reports go, a fresh Job starts on the next try.
        kube().delete_owned("batch/v1", "Job", owner.namespace, job["metadata"]["name"], owner.uid)
        stale = {annotation_key(r.pod): None for r in reports if r.pod.startswith(job["metadata"]["name"] + "-")}
        lease = names.lease(owner.name, names.SYNC)
        kube().patch_annotations("coordination.k8s.io/v1", "Lease", owner.namespace, lease, stale)
        raise kopf.TemporaryError(str(verdict), delay=30)
    kube().create(job)
    raise kopf.TemporaryError("waiting for the cleanup Job", delay=5)
