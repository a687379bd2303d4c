"""A status round's I/O for one resource, off the event loop and only when there is some: a run-now request to
act on, old reports of its workers to fold."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from graphsync_operator.build import names
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.controller.handlers.indexes import Indexes
from graphsync_operator.controller.handlers.requests import pending, run_now
from graphsync_operator.controller.handlers.resources import Resource
from graphsync_operator.reports import RETIRED_KEY, WorkerReport, annotation_key, retire


async def chores(
    resource: Resource, indexes: Indexes, component: str, annotation: str, cronjob: str | None
) -> dict[str, str]:
    """Act on a run-now `annotation` (a Job from `cronjob`), fold old reports of the resource's `component`
    workers; the requests handled.

    What they act on comes from the resource as the refresher read it this round, never from a body
    that waited in a queue.
    """
    handled = resource.handled_requests()
    if pending(resource, annotation) is not None:
        handled = await asyncio.to_thread(run_now, resource, annotation, cronjob)
    reports = indexes.reports(resource.namespace, resource.name, component)
    if retire(reports, datetime.now(UTC))[1] is not None:
        await asyncio.to_thread(fold_old_reports, resource.namespace, resource.name, component, reports)
    return handled


def fold_old_reports(namespace: str, owner: str, component: str, reports: list[WorkerReport]) -> None:
    """Keep a Lease small: reports of pods long gone become one retired total (the counts stay in status)."""
    pods, retired = retire(reports, datetime.now(UTC))
    if retired is None:
        return
    values: dict[str, str | None] = {annotation_key(pod): None for pod in pods}
    values[RETIRED_KEY] = retired.model_dump_json(by_alias=True)
    kube().patch_annotations("coordination.k8s.io/v1", "Lease", namespace, names.lease(owner, component), values)
