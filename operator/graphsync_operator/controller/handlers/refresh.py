"""One loop refreshes every resource's status from kopf's indexes, instead of a kopf timer per resource.

A kopf timer would give every resource a finalizer (so deleting one, or its namespace, hangs
while the operator is away) and one task each. This loop reads the resources and the
workers' reports from the watches' indexes, computes each status (pure), and patches only
those that changed, conditioned on the resourceVersion it computed from: a write based on a
view that has since moved on is refused by the API server, and the next round tries again.
Each round also leaves what it saw (every resource's status) to the operator's metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import kopf
from pydantic import BaseModel

from graphsync import logs
from graphsync_operator import metrics
from graphsync_operator.controller.handlers.ending import release_ending
from graphsync_operator.controller.handlers.indexes import Indexes
from graphsync_operator.controller.handlers.observation import context_of
from graphsync_operator.controller.handlers.pipelines import refresh_pipeline
from graphsync_operator.controller.handlers.policies import refresh_policy
from graphsync_operator.controller.handlers.reconciliations import refresh_job
from graphsync_operator.controller.handlers.resources import Resource
from graphsync_operator.controller.handlers.settings import STATUS_INTERVAL
from graphsync_operator.controller.handlers.statuses import status_change, write_status

log = logging.getLogger(__name__)
Refresh = Callable[[Resource, Indexes], Awaitable[BaseModel | None]]
KINDS: tuple[tuple[str, str, Refresh], ...] = (
    ("pipeline_bodies", "SyncPipeline", refresh_pipeline),
    ("job_bodies", "ReconciliationJob", refresh_job),
    ("policy_bodies", "ConflictPolicy", refresh_policy),
)


@kopf.on.startup()
async def start_refreshing(memo: kopf.Memo, **kwargs: Any) -> None:
    # The indexes are live: they fill as the watches start, after this returns.
    memo["refresher"] = asyncio.create_task(refresh_forever(Indexes(kwargs), memo.get("namespaces")))


@kopf.on.cleanup()
async def stop_refreshing(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("refresher")
    if task is not None:
        task.cancel()


async def refresh_forever(indexes: Indexes, namespaces: Sequence[str] | None) -> None:
    """`namespaces`: the patterns the operator watches, None for the whole cluster."""
    while True:
        await asyncio.sleep(STATUS_INTERVAL)
        try:
            await asyncio.to_thread(release_ending, namespaces)
        except Exception:  # the statuses below are refreshed all the same
            log.exception("letting go of pipelines in namespaces being deleted")
        seen: list[metrics.Seen] = []
        for index, kind, refresh in KINDS:
            for body in indexes.bodies(index):
                meta = body["metadata"]
                status = body.get("status") or {}
                # The lines of one resource's refresh (and its write) share a correlation id.
                with logs.scope(**context_of(kind, body)):
                    try:
                        status = await refresh_one(Resource.of(body), refresh, indexes)
                    except Exception:  # one resource's trouble must not stop the others' statuses
                        log.exception("refreshing the status of %s %s", kind, meta.get("name"))
                seen.append(metrics.Seen(kind, meta.get("namespace", ""), meta["name"], status))
        metrics.CLUSTER.update(seen)


async def refresh_one(resource: Resource, refresh: Refresh, indexes: Indexes) -> Mapping[str, Any]:
    """The status as it stands after this round: the one computed now, else the one written before."""
    if resource.deleting:
        return resource.status
    status = await refresh(resource, indexes)
    if status is None:
        return resource.status
    if status_change(resource, status)[0] is not None:
        await asyncio.to_thread(write_status, resource, status)
    return dict(status.model_dump(mode="json", by_alias=True, exclude_none=True))
