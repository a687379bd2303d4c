"""Events about a resource, as `kubectl describe` lists them (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from graphsync_operator.build.names import MANAGED_BY


def event(body: Any, kind: str, reason: str, message: str, now: datetime) -> dict[str, Any]:
    """`kind` is Normal or Warning; messages are cut to what the API server stores (1 KiB)."""
    meta = body["metadata"]
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid"),
        },
        "type": kind,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": MANAGED_BY},
        "reportingComponent": MANAGED_BY,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


def namespace_event(
    namespace: str, about: str, kind: str, reason: str, message: str, *, now: datetime
) -> dict[str, Any]:
    """An Event about a Namespace: what cannot be said inside a namespace being deleted (it takes no new
    objects) is said about the namespace itself, in `default` where the API server keeps such Events, and
    `kubectl describe namespace` lists them. Named after `about` and `reason`, so saying it again is a no-op."""
    found = event(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "namespace": "default"}},
        kind,
        reason,
        message,
        now,
    )
    found["metadata"] = {"name": f"{namespace}.{about}.{reason.lower()}", "namespace": "default"}
    # A cluster-scoped object: the API server refuses an Event whose involved Namespace names a namespace.
    del found["involvedObject"]["namespace"]
    del found["involvedObject"]["uid"]
    return found


def cleanup_skipped(namespace: str, name: str) -> str:
    """Why a pipeline in a namespace being deleted goes without its cleanup, what stays, and what to do."""
    identity = f"{namespace}.{name}"
    return (
        f"SyncPipeline {namespace}/{name} (deletionPolicy cleanup): its namespace is being deleted, so the cleanup "
        f"Job cannot run there and the resource is let go without it. Its workers were stopped. What the pipeline "
        f"made in its databases stays, all named after its identity {identity!r}: capture triggers or the "
        f"replication slot and the engine's state in the source, its streams in Redis, and its bookkeeping on the "
        f"target. Remove it with `graphsync cleanup -f` on the pipeline's spec, or set deletionPolicy: retain "
        f"before deleting a namespace."
    )
