"""The kopf handlers: glue between watch events, the pure builders and assessments, and the API client.

Status is computed from two in-memory indexes kopf keeps from its watches (the
workers' Leases and the Deployments), so refreshing a status costs no request
unless the status changed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import ValidationError

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator import assess
from graphsync_operator.api import API_VERSION, SyncPipelineSpec, valid_name
from graphsync_operator.build import children, names
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from graphsync_operator.kube import Kube
from graphsync_operator.progress import ANNOTATION_PREFIX, WorkerReport
from graphsync_operator.status import Condition

GROUP, VERSION = API_VERSION.split("/")
MANAGED = {"app.kubernetes.io/managed-by": names.MANAGED_BY}
log = logging.getLogger(__name__)


def defaults() -> Defaults:
    return Defaults(
        image=os.environ.get("GRAPHSYNC_WORKER_IMAGE", "ghcr.io/graphsync/graphsync:0.1.0"),
        heartbeat_seconds=float(os.environ.get("GRAPHSYNC_HEARTBEAT_SECONDS", "10")),
    )


_kube: Kube | None = None


def kube() -> Kube:
    global _kube  # noqa: PLW0603 - one API client per operator process, made on first use
    if _kube is None:
        _kube = Kube.connect()
    return _kube


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf's bookkeeping in annotations, so each status holds only what users read.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="kopf.graphsync.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix="kopf.graphsync.io")
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = int(os.environ.get("GRAPHSYNC_OPERATOR_WORKERS", "8"))


@kopf.index("coordination.k8s.io", "v1", "leases", labels=MANAGED)
def progress(namespace: str | None, labels: Mapping[str, str], annotations: Mapping[str, str], **_: Any) -> object:
    """(namespace, pipeline) -> (owning resource, component, the workers' reports)."""
    reports = []
    for key, value in annotations.items():
        if key.startswith(ANNOTATION_PREFIX):
            try:
                reports.append(WorkerReport.model_validate_json(value))
            except ValidationError:
                log.warning("ignoring a malformed worker report in %s/%s", namespace, key)
    owner = labels.get("app.kubernetes.io/instance", "")
    component = labels.get("app.kubernetes.io/component", "")
    return {(namespace, labels.get(names.PIPELINE_LABEL, "")): (owner, component, tuple(reports))}


@kopf.index("apps", "v1", "deployments", labels=MANAGED)
def rollouts(
    namespace: str | None, labels: Mapping[str, str], spec: kopf.Spec, status: kopf.Status, meta: kopf.Meta, **_: Any
) -> object:
    """(namespace, pipeline) -> (desired, ready, rolled out)."""
    desired = int(spec.get("replicas", 1))
    rolled_out = (
        status.get("observedGeneration", 0) >= meta.get("generation", 0) and status.get("updatedReplicas", 0) >= desired
    )
    return {
        (namespace, labels.get(names.PIPELINE_LABEL, "")): (desired, int(status.get("readyReplicas", 0)), rolled_out)
    }


def _owner(body: Any) -> Owner:
    meta = body["metadata"]
    return Owner(kind=body["kind"], name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def _parse_pipeline(body: Any) -> SyncPipelineSpec:
    """Raises PermanentError after recording InvalidSpec: a spec that cannot run waits for the next edit."""
    problem = valid_name(body["metadata"]["name"])
    if problem is None:
        try:
            return SyncPipelineSpec.model_validate(dict(body["spec"]))
        except ValidationError as exc:
            problem = field_errors(exc, "spec")
    raise _Invalid(problem)


def field_errors(exc: ValidationError, prefix: str) -> str:
    """One line naming every field at fault, as a condition message can hold it."""
    return "; ".join(f"{'.'.join([prefix, *map(str, e['loc'])])}: {e['msg']}" for e in exc.errors())


class _Invalid(Exception):
    pass


def _policy(namespace: str, spec: SyncPipelineSpec) -> ConflictPolicySpec | None:
    if spec.conflict_policy_ref is None:
        return None
    name = spec.conflict_policy_ref.name
    found = kube().get(API_VERSION, "ConflictPolicy", namespace, name)
    if found is None:
        raise _Missing("PolicyMissing", f"spec.conflictPolicyRef: ConflictPolicy {name!r} does not exist")
    try:
        return ConflictPolicySpec.model_validate(found.get("spec", {}))
    except ValidationError as exc:
        raise _Missing("PolicyInvalid", f"ConflictPolicy {name!r}: {field_errors(exc, 'spec')}") from None


class _Missing(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _check_secrets(namespace: str, built: children.Children) -> None:
    for use in built.rendered.secrets:
        secret = kube().get("v1", "Secret", namespace, use.secret)
        if secret is None:
            raise _Missing("SecretMissing", f"{use.field}: Secret {use.secret!r} does not exist")
        if use.key not in (secret.get("data") or {}):
            raise _Missing("SecretMissing", f"{use.field}: Secret {use.secret!r} has no key {use.key!r}")


@kopf.on.resume(GROUP, VERSION, "syncpipelines")
@kopf.on.create(GROUP, VERSION, "syncpipelines")
@kopf.on.update(GROUP, VERSION, "syncpipelines", field="spec")
def reconcile_pipeline(body: Any, patch: kopf.Patch, retry: int, **kwargs: Any) -> None:
    try:
        spec, built = _apply_pipeline(body)
    except _Invalid as exc:
        _write_status(body, patch, kwargs, assess.Problem("InvalidSpec", str(exc), permanent=True))
        raise kopf.PermanentError(str(exc)) from None
    except _Missing as exc:
        _write_status(body, patch, kwargs, assess.Problem(exc.reason, exc.message))
        raise kopf.TemporaryError(exc.message, delay=min(300, 10 * 2**retry)) from None
    _write_status(body, patch, kwargs, None, config_hash=built.rendered.hash, spec=spec)


def _apply_pipeline(body: Any) -> tuple[SyncPipelineSpec, children.Children]:
    """Build and apply a pipeline's children; raises _Invalid or _Missing before writing anything."""
    owner = _owner(body)
    spec = _parse_pipeline(body)
    built = children.pipeline(owner, spec, defaults(), _policy(owner.namespace, spec))
    _check_secrets(owner.namespace, built)
    for manifest in built.manifests:
        kube().apply(manifest)
    for api_version, kind, name in built.obsolete:
        kube().delete(api_version, kind, owner.namespace, name)
    return spec, built


@kopf.on.resume(GROUP, VERSION, "conflictpolicies")
@kopf.on.create(GROUP, VERSION, "conflictpolicies")
@kopf.on.update(GROUP, VERSION, "conflictpolicies", field="spec")
def reconcile_policy(body: Any, patch: kopf.Patch, **_: Any) -> None:
    """Check the policy, then re-render every pipeline that references it: their workers roll onto it."""
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    now = datetime.now(UTC)
    try:
        ConflictPolicySpec.model_validate(dict(body["spec"]))
        ready = Condition(type="Ready", status="True", reason="Valid", last_transition_time=now)
    except ValidationError as exc:
        ready = Condition(
            type="Ready",
            status="False",
            reason="InvalidSpec",
            message=field_errors(exc, "spec"),
            last_transition_time=now,
        )
    users = [
        pipeline
        for pipeline in kube().list(API_VERSION, "SyncPipeline", namespace)
        if (pipeline["spec"].get("conflictPolicyRef") or {}).get("name") == name
    ]
    if ready.status == "True":
        for pipeline in users:
            try:
                _apply_pipeline(pipeline)
            except (_Invalid, _Missing) as exc:
                log.warning("pipeline %s/%s not re-rendered: %s", namespace, pipeline["metadata"]["name"], exc)
    patch.status.update(
        {
            "observedGeneration": meta.get("generation"),
            "pipelines": sorted(p["metadata"]["name"] for p in users),
            "conditions": [ready.model_dump(mode="json", by_alias=True, exclude_none=True)],
        }
    )
    if ready.status != "True":
        raise kopf.PermanentError(ready.message)


@kopf.timer(GROUP, VERSION, "syncpipelines", interval=float(os.environ.get("GRAPHSYNC_STATUS_INTERVAL", "5")))
def refresh_pipeline(body: Any, patch: kopf.Patch, **kwargs: Any) -> None:
    """Recompute the status from the indexes; kopf sends a patch only if something changed."""
    status = body.get("status") or {}
    if status.get("observedGeneration") != body["metadata"].get("generation"):
        return  # the spec handler has not run yet for this generation; it writes the status itself
    if status.get("phase") in ("Invalid", "Pending") and _stalled(status):
        return
    try:
        spec = SyncPipelineSpec.model_validate(dict(body["spec"]))
    except ValidationError:
        return
    _write_status(body, patch, kwargs, None, config_hash=status.get("configHash"), spec=spec)


def _stalled(status: dict[str, Any]) -> bool:
    return any(c.get("type") == "Stalled" and c.get("status") == "True" for c in status.get("conditions", []))


def _write_status(
    body: Any,
    patch: kopf.Patch,
    indexes: dict[str, Any],
    problem: assess.Problem | None,
    *,
    config_hash: str | None = None,
    spec: SyncPipelineSpec | None = None,
) -> None:
    meta = body["metadata"]
    namespace, name = meta["namespace"], meta["name"]
    written = dict(body.get("status") or {})
    previous = [Condition.model_validate(c) for c in written.get("conditions", [])]
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
        source=_kind_of(body["spec"].get("source")),
        target=_kind_of(body["spec"].get("target")),
        config_hash=config_hash,
        previous=previous,
    )
    status = assess.pipeline_status(observed)
    status.handled_requests = written.get("handledRequests") or {}
    new = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not status.handled_requests:
        new.pop("handledRequests", None)
    if new == written:
        return
    for kind, reason, message in assess.transitions(previous, status.conditions):
        kopf.event(body, type=kind, reason=reason, message=message)
    # Fields we no longer report are removed (a merge patch keeps what it does not mention).
    patch.status.update({key: None for key in written if key not in new})
    patch.status.update(new)


def _kind_of(section: Any) -> str | None:
    if not isinstance(section, dict):
        return None
    return next((kind for kind in section if section[kind] is not None), None)
