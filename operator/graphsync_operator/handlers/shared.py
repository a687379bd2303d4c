"""What every handler shares: the API client, operator settings, kopf's indexes, and spec checks.

Status is computed from two in-memory indexes kopf keeps from its watches (the
workers' Leases and the Deployments), so refreshing a status costs no request
unless the status changed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import kopf
from pydantic import BaseModel, ValidationError

from graphsync.spec import errors
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator import assess
from graphsync_operator.api import API_VERSION, SyncPipelineSpec, valid_name
from graphsync_operator.build import children, names, workloads
from graphsync_operator.build import events as build_events
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from graphsync_operator.kube import Kube, KubeError, NotOwned
from graphsync_operator.pods import Placement
from graphsync_operator.progress import (
    RETIRED_KEY,
    WorkerReport,
    annotation_key,
    from_workloads,
    reports_in,
    reset_events,
    retire,
    schema_events,
)
from graphsync_operator.reasons import Reason
from graphsync_operator.status import Condition

GROUP, VERSION = API_VERSION.split("/")
STATUS_INTERVAL = float(os.environ.get("GRAPHSYNC_STATUS_INTERVAL", "5"))
MANAGED = {names.MANAGED_BY_LABEL: names.MANAGED_BY}
log = logging.getLogger(__name__)
SpecT = TypeVar("SpecT", bound=BaseModel)


# The chart's `workers.podDefaults`, as JSON: placement every pipeline's workers get unless their spec says.
POD_DEFAULTS_ENV = "GRAPHSYNC_WORKER_POD_DEFAULTS"


def defaults() -> Defaults:
    """The operator's settings for every worker; ValueError naming the setting when one is wrong."""
    return Defaults(
        image=os.environ.get("GRAPHSYNC_WORKER_IMAGE", "ghcr.io/graphsync/graphsync:0.1.0"),
        heartbeat_seconds=float(os.environ.get("GRAPHSYNC_HEARTBEAT_SECONDS", "10")),
        placement=placement_of(os.environ.get(POD_DEFAULTS_ENV)),
    )


@functools.lru_cache(maxsize=4)
def placement_of(text: str | None) -> Placement:
    """The pod defaults the chart gives (JSON; none when unset or empty); parsed once, not on every status round
    that builds a pipeline's children."""
    if not text or not text.strip():
        return Placement()
    try:
        return Placement.model_validate_json(text)
    except ValidationError as exc:
        said = "; ".join(errors.messages(exc))
        raise ValueError(f"{POD_DEFAULTS_ENV} (the chart's workers.podDefaults): {said}") from None


_kube: Kube | None = None


def kube() -> Kube:
    global _kube  # noqa: PLW0603 - one API client per operator process, made on first use
    if _kube is None:
        _kube = Kube.connect()
    return _kube


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf's bookkeeping in annotations, so each status holds only what users read.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=names.KOPF_PREFIX)
    # Only pipelines with deletionPolicy cleanup carry it, named for what it waits for.
    settings.persistence.finalizer = names.FINALIZER
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = int(os.environ.get("GRAPHSYNC_OPERATOR_WORKERS", "8"))


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


def reports_of(indexes: Mapping[str, Any], namespace: str, owner: str, component: str) -> list[WorkerReport]:
    """What the `component` workers of resource `owner` report: from its own Lease, by pods of its own workloads."""
    found = [r for reports in indexes["progress"].get((namespace, names.lease(owner, component)), []) for r in reports]
    return from_workloads(found, names.pod_prefixes(owner, component))


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


def owner_of(body: Any) -> Owner:
    meta = body["metadata"]
    return Owner(kind=body["kind"], name=meta["name"], namespace=meta["namespace"], uid=meta["uid"])


def parse_spec(body: Any, model: type[SpecT]) -> SpecT:
    """The resource's spec as its model; raises Invalid naming the field (a spec that cannot run waits for an edit)."""
    problem = valid_name(body["metadata"]["name"])
    if problem is None:
        try:
            return model.model_validate(dict(body["spec"]))
        except ValidationError as exc:
            problem = field_errors(exc, "spec")
    raise Invalid(problem)


def field_errors(exc: ValidationError, prefix: str) -> str:
    """One line naming every field at fault, as a condition message can hold it."""
    return "; ".join(errors.messages(exc, prefix))


class Invalid(Exception):
    """The spec cannot run as written: recorded as InvalidSpec, not retried until the next edit."""

    pass


class Missing(Exception):
    """Something the spec refers to is not there (yet): recorded with its reason, retried with backoff."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def policy_of(namespace: str, spec: SyncPipelineSpec) -> ConflictPolicySpec | None:
    if spec.conflict_policy_ref is None:
        return None
    name = spec.conflict_policy_ref.name
    found = kube().get(API_VERSION, "ConflictPolicy", namespace, name)
    if found is None:
        raise Missing(Reason.POLICY_MISSING, f"spec.conflictPolicyRef: ConflictPolicy {name!r} does not exist")
    try:
        return ConflictPolicySpec.model_validate(found.get("spec", {}))
    except ValidationError as exc:
        raise Missing(Reason.POLICY_INVALID, f"ConflictPolicy {name!r}: {field_errors(exc, 'spec')}") from None


def claim(manifests: list[dict[str, Any]]) -> None:
    """Before anything is written: every child's name is free or already the resource's (Missing, reason
    NameTaken, naming the object, when another owner's object holds it; retried, as it may be removed)."""
    for manifest in manifests:
        try:
            kube().check_owned(manifest)
        except NotOwned as exc:
            raise Missing(Reason.NAME_TAKEN, f"{manifest['kind']} {manifest['metadata']['name']}: {exc}") from None


def check_secrets(namespace: str, built: children.Children) -> None:
    read: dict[str, dict[str, Any] | None] = {}
    for use in built.rendered.secrets:
        if use.secret not in read:  # one request per Secret, however many keys of it the spec names
            read[use.secret] = kube().get("v1", "Secret", namespace, use.secret)
        secret = read[use.secret]
        if secret is None:
            raise Missing(Reason.SECRET_MISSING, f"{use.field}: Secret {use.secret!r} does not exist")
        if use.key not in (secret.get("data") or {}):
            raise Missing(Reason.SECRET_MISSING, f"{use.field}: Secret {use.secret!r} has no key {use.key!r}")


def kind_of(section: Any) -> str | None:
    if not isinstance(section, dict):
        return None
    return next((kind for kind in section if section[kind] is not None), None)


async def chores(
    body: Any, indexes: Mapping[str, Any], component: str, annotation: str, cronjob: str | None
) -> dict[str, str]:
    """A timer's I/O, off the event loop and only when there is some: a run-now request, old reports of the
    resource's `component` workers to fold.

    Timers are coroutines so that what they compute and patch comes from the resource as it is
    when they run (kopf keeps a timer's body current), never from a body that waited in a queue.
    """
    handled = dict((body.get("status") or {}).get("handledRequests") or {})
    request = (body["metadata"].get("annotations") or {}).get(annotation)
    if request and handled.get(annotation) != request:
        handled = await asyncio.to_thread(run_now, body, annotation, cronjob)
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    reports = reports_of(indexes, namespace, name, component)
    if retire(reports, datetime.now(UTC))[1] is not None:
        await asyncio.to_thread(fold_old_reports, namespace, name, component, reports)
    return handled


def previous_conditions(body: Any) -> list[Condition]:
    return [Condition.model_validate(c) for c in (body.get("status") or {}).get("conditions", [])]


Event = tuple[str, str, str]


def publish(body: Any, patch: kopf.Patch, status: BaseModel) -> None:
    """From a handler: the status patch goes with kopf's own patch of the resource."""
    change, events = status_change(body, status)
    if change is not None:
        patch.status.update(change)
        post(body, events)


def status_change(body: Any, status: BaseModel) -> tuple[dict[str, Any] | None, list[Event]]:
    """The merge patch that turns the written status into `status` (None when equal), and the Events
    for its transitions of Ready or Degraded."""
    written = dict(body.get("status") or {})
    new = status.model_dump(mode="json", by_alias=True, exclude_none=True)
    if not new.get("handledRequests"):
        new.pop("handledRequests", None)
    if new == written:
        return None, []
    before = [Condition.model_validate(c) for c in written.get("conditions", [])]
    events = assess.transitions(before, getattr(status, "conditions", []))
    events += reset_events(written.get("checkpointResets") or [], new.get("checkpointResets") or [])
    events += schema_events(written.get("schemaChanges") or [], new.get("schemaChanges") or [])
    # Fields no longer reported are removed (a merge patch keeps what it does not mention).
    return {**{key: None for key in written if key not in new}, **new}, events


def write_status(body: Any, kind: str, status: BaseModel) -> None:
    """Outside a handler: patch the status if it changed, conditioned on the resourceVersion of `body`
    (a write based on a view that has since moved on is refused, and tried again later), then post
    the Events of its transitions."""
    change, events = status_change(body, status)
    if change is None:
        return
    meta = body["metadata"]
    written = kube().patch_status(
        API_VERSION, kind, meta["namespace"], meta["name"], change, resource_version=meta["resourceVersion"]
    )
    if written:
        post(body, events)


def post(body: Any, events: list[Event]) -> None:
    """Events go through the API client: the refresher runs outside kopf's handler contexts, where kopf.event works."""
    for kind, reason, message in events:
        try:
            kube().create(build_events.event(body, kind, reason, message, datetime.now(UTC)))
        except KubeError as exc:
            log.warning("event %s for %s not posted: %s", reason, body["metadata"].get("name"), exc)


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


def run_now(body: Any, annotation: str, cronjob: str | None) -> dict[str, str]:
    """Act on a "run now" annotation once per value: a Job from the CronJob's template. Returns what was handled."""
    handled = dict((body.get("status") or {}).get("handledRequests") or {})
    request = (body["metadata"].get("annotations") or {}).get(annotation)
    if not request or handled.get(annotation) == request:
        return handled
    handled[annotation] = request
    if cronjob is None:
        message = f"{annotation}: this pipeline runs continuously, so there is nothing to start"
        post(body, [("Warning", "RunNowIgnored", message)])
        return handled
    owner = owner_of(body)
    template = kube().get("batch/v1", "CronJob", owner.namespace, cronjob)
    if template is None:
        post(body, [("Warning", "RunNowFailed", f"CronJob {cronjob} does not exist yet")])
        return handled
    job = workloads.job_now(template, owner, request)
    kube().create(job)
    post(body, [("Normal", "RunStarted", f"Job {job['metadata']['name']} ({annotation}={request})")])
    return handled


def fold_old_reports(namespace: str, owner: str, component: str, reports: list[WorkerReport]) -> None:
    """Keep a Lease small: reports of pods long gone become one retired total (the counts stay in status)."""
    pods, retired = retire(reports, datetime.now(UTC))
    if retired is None:
        return
    values: dict[str, str | None] = {annotation_key(pod): None for pod in pods}
    values[RETIRED_KEY] = retired.model_dump_json(by_alias=True)
    kube().patch_annotations("coordination.k8s.io/v1", "Lease", namespace, names.lease(owner, component), values)
