"""`dlq list` and `conflicts list|show` through the pipeline's worker, by default.

The worker already reaches the pipeline's databases with its Secrets; the plugin asks it
(`graphsync_operator.worker.inspection`) through the API server's pod proxy, with the user's own
RBAC (get pods/proxy), so nothing needs a database address reachable from the user's
machine nor the right to read Secrets. `--direct`, implied by `--address`, reads the
stores from here as before; replaying and resolving, which write, always do.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Mapping
from typing import Any

from graphsync.commands import conflicts, deadletter, output
from graphsync_operator.api.specs import API_VERSION
from graphsync_operator.build import names
from graphsync_operator.build.workloads import HTTP_PORT
from graphsync_operator.kube import Kube
from graphsync_operator.plugin.steer import PluginError

# The worker pods of a pipeline that run continuously (a scheduled one has a worker only while a run goes).
COMPONENT = "sync"


def chosen(pods: Iterable[Mapping[str, Any]]) -> tuple[str, int] | None:
    """A worker to ask (pure): a Running pod, Ready ones first, not being deleted; with its http port."""
    found = []
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") != "Running" or pod["metadata"].get("deletionTimestamp"):
            continue
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        found.append((not ready, pod["metadata"]["name"], _port(pod)))
    if not found:
        return None
    _, name, port = min(found)
    return name, port


def _port(pod: Mapping[str, Any]) -> int:
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == "http":
                return int(port["containerPort"])
    return HTTP_PORT


def request(args: argparse.Namespace) -> tuple[str, list[tuple[str, str]], str]:
    """The worker's path and query for the action `args` names, and the key of its answer (pure)."""
    if getattr(args, "dlq_command", None) == "list":
        return "/deadletters", [("all", str(args.all).lower()), ("limit", str(args.limit))], "deadLetters"
    if args.conflicts_command == "list":
        return "/conflicts", [("all", str(args.all).lower())], "conflicts"
    return f"/conflicts/{args.id}", [], "conflict"


def served(args: argparse.Namespace) -> bool:
    """Whether this action goes through the worker: a read, without --direct or --address."""
    read = getattr(args, "dlq_command", None) == "list" or getattr(args, "conflicts_command", None) in ("list", "show")
    return read and not args.direct and not args.addresses


def ask(kube: Kube, namespace: str, args: argparse.Namespace) -> int:
    """Ask a worker of the SyncPipeline and print its answer as the engine's command prints the same data."""
    pods = kube.list("v1", "Pod", namespace, names.selector_text(args.name, COMPONENT))
    worker = chosen(pods)
    if worker is None:
        if kube.get(API_VERSION, "SyncPipeline", namespace, args.name) is None:
            raise PluginError(f"SyncPipeline {args.name!r} not found in namespace {namespace!r}")
        raise PluginError(
            f"no running worker of SyncPipeline {args.name!r} to ask (paused, scheduled, or starting?);"
            " read its store from here with --direct (and --address for in-cluster addresses)"
        )
    pod, port = worker
    path, query, key = request(args)
    data = kube.proxy_get(namespace, pod, port, path, query)[key]
    if key == "deadLetters":
        output.emit(data, args.output, deadletter.letters_text)
    elif key == "conflicts":
        output.emit(data, args.output, conflicts.list_text)
    else:
        output.emit(data, args.output, conflicts.show_text)
    return 0
