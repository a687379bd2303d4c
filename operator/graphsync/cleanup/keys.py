"""Redis: the transport, a graph pipeline's state."""

from __future__ import annotations

from contextlib import ExitStack

import redis

from graphsync import connect, stores
from graphsync.cleanup.report import CleanupReport
from graphsync.spec.pipeline import PipelineSpec


def key_prefix(pipeline: str) -> str:
    """Every Redis key of a pipeline starts with this; the colon ends the name, so `shop` never matches `shop2`."""
    return f"graphsync:{pipeline}:"


def key_pattern(pipeline: str) -> str:
    """The SCAN pattern of a pipeline's keys: its prefix, glob characters escaped, then anything."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in key_prefix(pipeline)) + "*"


def remove_keys(client: redis.Redis, pipeline: str, report: CleanupReport) -> None:
    """Delete every key under the pipeline's prefix, found by SCAN (never KEYS); streams take their groups along."""
    prefix = key_prefix(pipeline)
    found = sorted({str(key) for key in client.scan_iter(match=key_pattern(pipeline), count=1000)})
    keys = [key for key in found if key.startswith(prefix)]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.type(key)
        for key, kind in zip(chunk, pipe.execute(), strict=True):
            if kind == "stream":
                report.streams.append(key)
                report.groups += [f"{key} {group['name']}" for group in client.xinfo_groups(key)]
            elif kind != "none":
                report.keys.append(key)
        client.delete(*chunk)


def transport(spec: PipelineSpec, report: CleanupReport) -> None:
    with ExitStack() as stack:
        client = connect.redis_client(spec.redis_streams)
        stack.callback(client.close)
        remove_keys(client, spec.identity, report)


def graph_state(spec: PipelineSpec, report: CleanupReport) -> None:
    with ExitStack() as stack:
        client = stores.state_client(spec)
        stack.callback(client.close)
        remove_keys(client, spec.identity, report)
