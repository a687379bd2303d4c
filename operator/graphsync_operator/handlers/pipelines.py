"""SyncPipeline handlers: children applied on every spec change, status refreshed from the indexes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator import assess
from graphsync_operator.api import API_VERSION, SyncPipelineSpec, valid_name
from graphsync_operator.build import children, names
from graphsync_operator.handlers.shared import (
    GROUP,
    STATUS_INTERVAL,
    SYNC_NOW,
    VERSION,
    Invalid,
    Missing,
    check_secrets,
    defaults,
    field_errors,
    kind_of,
    kube,
    owner_of,
    previous_conditions,
    publish,
    run_now,
    stalled,
)
from graphsync_operator.progress import WorkerReport


def _parse_pipeline(body: Any) -> SyncPipelineSpec:
    """Raises PermanentError after recording InvalidSpec: a spec that cannot run waits for the next edit."""
    problem = valid_name(body["metadata"]["name"])
    if problem is None:
        try:
            return SyncPipelineSpec.model_validate(dict(body["spec"]))
        except ValidationError as exc:
            problem = field_errors(exc, "spec")
    raise Invalid(problem)


def policy_of(namespace: str, spec: SyncPipelineSpec) -> ConflictPolicySpec | None:
    if spec.conflict_policy_ref is None:
        return None
    name = spec.conflict_policy_ref.name
    found = kube().get(API_VERSION, "ConflictPolicy", namespace, name)
    if found is None:
        raise Missing("PolicyMissing", f"spec.conflictPolicyRef: ConflictPolicy {name!r} does not exist")
    try:
        return ConflictPolicySpec.model_validate(found.get("spec", {}))
    except ValidationError as exc:
        raise Missing("PolicyInvalid", f"ConflictPolicy {name!r}: {field_errors(exc, 'spec')}") from None


@kopf.on.resume(GROUP, VERSION, "syncpipelines")
@kopf.on.create(GROUP, VERSION, "syncpipelines")
@kopf.on.update(GROUP, VERSION, "syncpipelines", field="spec")
def reconcile_pipeline(body: Any, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
    try:
        spec, built = apply_pipeline(body)
    except Invalid as exc:
        _write_status(body, patch, kwargs, assess.Problem("InvalidSpec", str(exc), permanent=True))
        raise kopf.PermanentError(str(exc)) from None
    except Missing as exc:
        _write_status(body, patch, kwargs, assess.Problem(exc.reason, exc.message))
        raise kopf.TemporaryError(exc.message, delay=min(300, 10 * 2**retry)) from None
    _write_status(body, patch, kwargs, None, config_hash=built.rendered.hash, spec=spec)


def apply_pipeline(body: Any) -> tuple[SyncPipelineSpec, children.Children]:
    """Build and apply a pipeline's children; raises Invalid or Missing before writing anything."""
    owner = owner_of(body)
    spec = _parse_pipeline(body)
    built = children.pipeline(owner, spec, defaults(), policy_of(owner.namespace, spec))
    check_secrets(owner.namespace, built)
    for manifest in built.manifests:
        kube().apply(manifest)
    for api_version, kind, name in built.obsolete:
        kube().delete(api_version, kind, owner.namespace, name)
    return spec, built


@kopf.timer(GROUP, VERSION, "syncpipelines", interval=STATUS_INTERVAL)
def refresh_pipeline(body: Any, patch: kopf.Patch, **kwargs: Any) -> None:
    """Recompute the status from the indexes (a patch only if something changed); act on a sync-now request."""
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return  # the spec handler has not run yet for this generation; it writes the status itself
    if stalled(status):
        return  # the spec handler retries (or waits for an edit) and keeps this status current
    try:
        spec = SyncPipelineSpec.model_validate(dict(body["spec"]))
    except ValidationError:
        return
    handled = run_now(body, SYNC_NOW, names.sync_cronjob(body["metadata"]["name"]) if spec.schedule else None)
    _write_status(body, patch, kwargs, None, config_hash=status.get("configHash"), spec=spec, handled=handled)


def _write_status(
    body: Any,
    patch: kopf.Patch,
    indexes: dict[str, Any],
    problem: assess.Problem | None,
    *,
    config_hash: str | None = None,
    spec: SyncPipelineSpec | None = None,
    handled: dict[str, str] | None = None,
) -> None:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    previous = previous_conditions(body)
    own: list[WorkerReport] = []
    reconciliations: list[tuple[str, WorkerReport]] = []
    for owner, component, reports in indexes["progress"].get((namespace, name), []):
        if component == children.SYNC and owner == name:
            own.extend(reports)
        elif component == children.RECONCILE:
            reconciliations.extend((owner, report) for report in reports)
    rollout = next(iter(indexes["rollouts"].get((namespace, name), [])), None)
    ready_since = next((c.last_transition_time for c in previous if c.type == "Ready"), None)
    observed = assess.Observed(
        generation=int(meta.get("generation", 0)),
        now=datetime.now(UTC),
        suspended=bool(spec and spec.suspend),
        scheduled=bool(spec and spec.schedule),
        desired=(spec.workers.replicas if spec and not spec.suspend else 0),
        ready_pods=rollout[1] if rollout else 0,
        rolled_out=bool(rollout and rollout[2]) or bool(spec and spec.schedule),
        applied_at=ready_since,
        reports=own,
        heartbeat_seconds=defaults().heartbeat_seconds,
        problem=problem,
        reconciliations=reconciliations,
        source=kind_of(body["spec"].get("source")),
        target=kind_of(body["spec"].get("target")),
        config_hash=config_hash,
        previous=previous,
    )
    status = assess.pipeline_status(observed)
    status.handled_requests = (
        handled if handled is not None else (body.get("status") or {}).get("handledRequests") or {}
    )
    publish(body, patch, status)
