"""One loop refreshes every resource's status from kopf's indexes, instead of a kopf timer per resource.

A kopf timer would give every resource a finalizer (so deleting one, or its namespace, hangs
while the operator is away) and one task each. This loop reads the resources and the
workers' reports from the watches' indexes, computes each status (pure), and patches only
those that changed, conditioned on the resourceVersion it computed from: a write based on a
view that has since moved on is refused by the API server, and the next round tries again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import kopf
from pydantic import BaseModel

from graphsync_operator.handlers.pipelines import refresh_pipeline
from graphsync_operator.handlers.policies import refresh_policy
from graphsync_operator.handlers.reconciliations import refresh_job
from graphsync_operator.handlers.shared import STATUS_INTERVAL, status_change, write_status

log = logging.getLogger(__name__)
Refresh = Callable[[Any, Mapping[str, Any]], Awaitable[BaseModel | None]]
KINDS: tuple[tuple[str, str, Refresh], ...] = (
    ("pipeline_bodies", "SyncPipeline", refresh_pipeline),
    ("job_bodies", "ReconciliationJob", refresh_job),
    ("policy_bodies", "ConflictPolicy", refresh_policy),
)


@kopf.on.startup()
async def start_refreshing(memo: kopf.Memo, **kwargs: Any) -> None:
    # The indexes are live: they fill as the watches start, after this returns.
    memo["refresher"] = asyncio.create_task(refresh_forever(kwargs))


@kopf.on.cleanup()
async def stop_refreshing(memo: kopf.Memo, **_: Any) -> None:
    task = memo.get("refresher")
    if task is not None:
        task.cancel()


async def refresh_forever(indexes: Mapping[str, Any]) -> None:
    while True:
        await asyncio.sleep(STATUS_INTERVAL)
        for index, kind, refresh in KINDS:
            for bodies in list(indexes[index].values()):
                for body in list(bodies):
                    try:
                        await refresh_one(body, kind, refresh, indexes)
                    except Exception:  # one resource's trouble must not stop the others' statuses
                        log.exception("refreshing the status of %s %s", kind, body["metadata"].get("name"))


async def refresh_one(body: Any, kind: str, refresh: Refresh, indexes: Mapping[str, Any]) -> None:
    meta = body["metadata"]
    if meta.get("deletionTimestamp"):
        return
    status = await refresh(body, indexes)
    if status is not None and status_change(body, status)[0] is not None:
        await asyncio.to_thread(write_status, body, kind, status)
