"""ConflictPolicy handlers: check the policy; pipelines that reference it are rendered again and roll."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import BaseModel, ValidationError

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.specs import API_VERSION, GROUP, VERSION
from graphsync_operator.api.status import ConflictPolicyStatus
from graphsync_operator.controller import assess
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.controller.handlers.handoff import current_generation
from graphsync_operator.controller.handlers.indexes import Indexes
from graphsync_operator.controller.handlers.observation import observed
from graphsync_operator.controller.handlers.pipelines import apply_pipeline
from graphsync_operator.controller.handlers.reconciliations import render_jobs
from graphsync_operator.controller.handlers.resources import Resource
from graphsync_operator.controller.handlers.specs import Invalid, Missing, field_errors
from graphsync_operator.controller.handlers.statuses import publish

log = logging.getLogger(__name__)


@kopf.on.resume(GROUP, VERSION, "conflictpolicies")
@kopf.on.create(GROUP, VERSION, "conflictpolicies")
@kopf.on.update(GROUP, VERSION, "conflictpolicies", field="spec")
@observed("ConflictPolicy")
def reconcile_policy(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
    """Check the policy, then render every pipeline that references it again: their workers roll onto it."""
    policy, indexes = Resource.of(body), Indexes(kwargs)
    namespace = policy.namespace
    problem = _problem(policy)
    users = indexes.policy_users(namespace, policy.name)
    if problem is None:
        for user in users:
            found = kube().get(API_VERSION, "SyncPipeline", namespace, user)
            pipeline = Resource.of(found) if found is not None else None
            try:
                # One being deleted keeps its workers stopped (its cleanup may be running).
                if pipeline is not None and not pipeline.deleting:
                    apply_pipeline(pipeline)
                    render_jobs(namespace, user, indexes)
            except (Invalid, Missing) as exc:
                log.warning("pipeline %s/%s not rendered again: %s", namespace, user, exc)
    publish(policy, patch, _status(policy, problem, users))
    if problem is not None:
        raise kopf.PermanentError(problem.message)


async def refresh_policy(policy: Resource, indexes: Indexes) -> BaseModel | None:
    """The pipelines using the policy, kept current from the index (for the refresher)."""
    if not current_generation(policy.body):
        return None
    return _status(policy, _problem(policy), indexes.policy_users(policy.namespace, policy.name))


def _problem(policy: Resource) -> assess.Problem | None:
    try:
        ConflictPolicySpec.model_validate(dict(policy.spec))
    except ValidationError as exc:
        return assess.Problem(Reason.INVALID_SPEC, field_errors(exc, "spec"), permanent=True)
    return None


def _status(policy: Resource, problem: assess.Problem | None, users: list[str]) -> ConflictPolicyStatus:
    observed = assess.Observed(
        generation=policy.generation,
        now=datetime.now(UTC),
        problem=problem,
        previous=policy.conditions(),
    )
    return assess.policy_status(observed, users)
