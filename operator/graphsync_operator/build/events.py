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
