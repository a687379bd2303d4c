"""Writing a resource's status, and the Events of its transitions of Ready and Degraded.

Two ways: a handler's status goes with kopf's own patch of the resource; the refresher, outside any handler,
patches it through the API client.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import kopf
from pydantic import BaseModel

from graphsync_operator.api.specs import API_VERSION
from graphsync_operator.api.status import Condition
from graphsync_operator.build import events as build_events
from graphsync_operator.controller import assess
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.controller.handlers.resources import Resource
from graphsync_operator.kube import KubeError
from graphsync_operator.reports import reset_events, schema_events

# (type Normal|Warning, reason, message)
Event = tuple[str, str, str]
log = logging.getLogger(__name__)


def publish(resource: Resource, patch: kopf.Patch, status: BaseModel) -> None:
    """From a handler: the status patch goes with kopf's own patch of the resource."""
    change, events = status_change(resource, status)
    if change is not None:
        patch.status.update(change)
        post(resource, events)


def status_change(resource: Resource, status: BaseModel) -> tuple[dict[str, Any] | None, list[Event]]:
    """The merge patch that turns the written status into `status` (None when equal), and the Events
    for its transitions of Ready or Degraded."""
    written = dict(resource.status)
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


def write_status(resource: Resource, status: BaseModel) -> None:
    """Outside a handler: patch the status if it changed, conditioned on the resourceVersion it was computed from
    (a write based on a view that has since moved on is refused, and tried again later), then post the Events
    of its transitions."""
    change, events = status_change(resource, status)
    if change is None:
        return
    written = kube().patch_status(
        API_VERSION,
        resource.kind,
        resource.namespace,
        resource.name,
        change,
        resource_version=resource.resource_version,
    )
    if written:
        post(resource, events)


def post(resource: Resource, events: list[Event]) -> None:
    """Events go through the API client: the refresher runs outside kopf's handler contexts, where kopf.event works."""
    for kind, reason, message in events:
        try:
            kube().create(build_events.event(resource.body, kind, reason, message, datetime.now(UTC)))
        except KubeError as exc:
            log.warning("event %s for %s not posted: %s", reason, resource.name, exc)
