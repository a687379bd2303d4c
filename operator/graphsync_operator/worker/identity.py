"""Who a worker is and how it reports: from the environment the Deployment sets (the downward API for the pod)."""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from graphsync_operator import reports
from graphsync_operator.api import pods

DEFAULT_HTTP_PORT = 8080
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class Identity:
    """Who the worker is, from the environment the Deployment sets (the downward API for the pod)."""

    pod: str
    namespace: str | None = None
    # The Lease the operator created for the pipeline; the worker may only get and patch it.
    lease: str | None = None
    http_port: int = DEFAULT_HTTP_PORT
    heartbeat_seconds: float = reports.HEARTBEAT_SECONDS
    stuck_seconds: float = pods.STUCK_SECONDS
    # Of the config the pod was made for: the operator counts only reports of the current one.
    config_hash: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Identity:
        """Raises ValueError naming the variable that is not a valid value."""
        port = _number(env, "GRAPHSYNC_HTTP_PORT", int, DEFAULT_HTTP_PORT)
        if not 0 <= port <= 65535:
            raise ValueError(f"GRAPHSYNC_HTTP_PORT: {port} is not a port number")
        beat = _number(env, "GRAPHSYNC_HEARTBEAT_SECONDS", float, reports.HEARTBEAT_SECONDS)
        if not beat > 0:
            raise ValueError(f"GRAPHSYNC_HEARTBEAT_SECONDS: {beat} is not a positive number of seconds")
        stuck = _number(env, "GRAPHSYNC_STUCK_SECONDS", float, pods.STUCK_SECONDS)
        if not stuck > 0:
            raise ValueError(f"GRAPHSYNC_STUCK_SECONDS: {stuck} is not a positive number of seconds")
        return cls(
            pod=env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname(),
            namespace=env.get("POD_NAMESPACE") or None,
            lease=env.get("GRAPHSYNC_LEASE") or None,
            http_port=port,
            heartbeat_seconds=beat,
            stuck_seconds=stuck,
            config_hash=env.get("GRAPHSYNC_CONFIG_HASH") or None,
        )


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], Number], default: Number) -> Number:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number") from None
