"""What the cleanup tests share: a pipeline run to the end, a reconciliation run, and the Redis keys of pipelines.

The cleanup tests are split by the pipeline's source (PostgreSQL, or a graph or files);
each runs a real pipeline first and looks for its keys, and another's, the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import redis

from graphsync.change import Change, Operation
from graphsync.connectors.redis import streams
from graphsync.connectors.redis.state import RedisCheckpoints
from graphsync.pipelines import run
from graphsync.reconcile.pipeline import reconcile
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec


def sync(spec: PipelineSpec) -> RunStats:
    stats = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert stats.failed == 0, stats.summary()
    return stats


def audit(spec: PipelineSpec) -> None:
    """One reconciliation run, so its record is there to be removed."""
    reconcile(spec, ReconcileSpec(), threading.Event())


def pipeline_keys(client: redis.Redis, name: str) -> list[str]:
    return sorted(str(key) for key in client.scan_iter(match=f"graphsync:{name}:*"))


def other_pipeline(client: redis.Redis, name: str) -> Iterator[list[str]]:
    """Streams with their consumer group and a checkpoint of another pipeline, whose name starts with `name`."""
    other = f"{name}2"
    made = streams.Streams(prefix=f"graphsync:{other}", partitions=2)
    streams.GroupReader(client, made, group=f"graphsync-{other}", consumer="c", claim_idle_ms=1000).ensure_groups()
    streams.publish(client, made, [Change("customer", 1, Operation.UPSERT, 1, {"id": 1})], max_length=1000)
    RedisCheckpoints(client, pipeline=other).put("snapshot", {"completed": True})
    keys = pipeline_keys(client, other)
    assert len(keys) == 3
    yield keys
    client.delete(*keys)
