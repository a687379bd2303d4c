"""ConflictPolicy handlers: check the policy; pipelines that reference it are rendered again and roll."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import BaseModel, ValidationError

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator import assess
from graphsync_operator.api import API_VERSION
from graphsync_operator.handlers.handoff import current_generation
from graphsync_operator.handlers.observation import observed
from graphsync_operator.handlers.pipelines import apply_pipeline
from graphsync_operator.handlers.reconciliations import render_jobs
from graphsync_operator.handlers.shared import (
    GROUP,
    VERSION,
    Invalid,
    Missing,
    field_errors,
    kube,
    log,
    previous_conditions,
    publish,
)
from graphsync_operator.reasons import Reason
from graphsync_operator.status import ConflictPolicyStatus


@kopf.index(GROUP, VERSION, "syncpipelines")
def policy_users(namespace: str | None, name: str, spec: kopf.Spec, **_: Any) -> object:
    """(namespace, policy) -> the pipelines that reference it."""
    ref = spec.get("conflictPolicyRef") or {}
    return {(namespace, ref["name"]): name} if ref.get("name") else None


@kopf.on.resume(GROUP, VERSION, "conflictpolicies")
@kopf.on.create(GROUP, VERSION, "conflictpolicies")
@kopf.on.update(GROUP, VERSION, "conflictpolicies", field="spec")
@observed("ConflictPolicy")
def reconcile_policy(body: Any, patch: kopf.Patch, **kwargs: Any) -> None:
    """Check the policy, then render every pipeline that references it again: their workers roll onto it."""
    namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
    problem = _problem(body)
    users = _users(kwargs["policy_users"], namespace, name)
    if problem is None:
        for user in users:
            pipeline = kube().get(API_VERSION, "SyncPipeline", namespace, user)
            try:
                # One being deleted keeps its workers stopped (its cleanup may be running).
                if pipeline is not None and not pipeline["metadata"].get("deletionTimestamp"):
                    apply_pipeline(pipeline)
                    render_jobs(namespace, user, kwargs)
            except (Invalid, Missing) as exc:
                log.warning("pipeline %s/%s not rendered again: %s", namespace, user, exc)
    _write_status(body, patch, problem, users)
    if problem is not None:
        raise kopf.PermanentError(problem.message)


async def refresh_policy(body: Any, indexes: Mapping[str, Any]) -> BaseModel | None:
    """The pipelines using the policy, kept current from the index (for the refresher)."""
    if not current_generation(body):
        return None
    users = _users(indexes["policy_users"], body["metadata"]["namespace"], body["metadata"]["name"])
    return _status(body, _problem(body), users)


def _users(index: Mapping[Any, Any], namespace: str, name: str) -> list[str]:
    return sorted(index.get((namespace, name), []))


def _problem(body: Any) -> assess.Problem | None:
    try:
        ConflictPolicySpec.model_validate(dict(body["spec"]))
    except ValidationError as exc:
        return assess.Problem(Reason.INVALID_SPEC, field_errors(exc, "spec"), permanent=True)
    return None


def _write_status(body: Any, patch: kopf.Patch, problem: assess.Problem | None, users: list[str]) -> None:
    publish(body, patch, _status(body, problem, users))


def _status(body: Any, problem: assess.Problem | None, users: list[str]) -> ConflictPolicyStatus:
    observed = assess.Observed(
        generation=int(body["metadata"].get("generation", 0)),
        now=datetime.now(UTC),
        problem=problem,
        previous=previous_conditions(body),
    )
    return assess.policy_status(observed, users)
