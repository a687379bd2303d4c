"""A resource's spec read through its model, and what stands in the way of running it: Invalid (the spec as
written) or Missing (something it refers to)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from graphsync.spec import errors
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.specs import API_VERSION, SyncPipelineSpec, valid_name
from graphsync_operator.controller.handlers.client import kube

SpecT = TypeVar("SpecT", bound=BaseModel)


class Invalid(Exception):
    """The spec cannot run as written: recorded as InvalidSpec, not retried until the next edit."""

    pass


class Missing(Exception):
    """Something the spec refers to is not there (yet): recorded with its reason, retried with backoff."""

    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def parse_spec(body: Mapping[str, Any], model: type[SpecT]) -> SpecT:
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


def policy_of(namespace: str, spec: SyncPipelineSpec) -> ConflictPolicySpec | None:
    """The ConflictPolicy the pipeline refers to, if it does; Missing when it is not there or not valid."""
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
