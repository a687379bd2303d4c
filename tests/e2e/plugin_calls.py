"""What the `kubectl graphsync` end-to-end tests share: running the plugin as kubectl and the engine's
command do, and a shop pipeline with its worker running."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from typing import Any

from graphsync_dev import kubelet
from graphsync_dev.kube import kubectl
from tests.e2e.helpers import VENV_BIN, ShopCluster, ok, wait_ready


def plugin(c: ShopCluster, *args: str) -> subprocess.CompletedProcess[str]:
    return kubectl(c.kube.env, "graphsync", *args, "-n", c.namespace)


def graphsync_kubectl(c: ShopCluster, *args: str) -> subprocess.CompletedProcess[str]:
    """The plugin through the engine's own command, as a user without kubectl's plugin mechanism runs it."""
    env = {**os.environ, "KUBECONFIG": c.kube.env["KUBECONFIG"]}
    command = [str(VENV_BIN / "graphsync"), "kubectl", *args, "-n", c.namespace]
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False, timeout=120)


def shop_running(c: ShopCluster, customers: int) -> tuple[str, kubelet.RunningPod]:
    """The shop pipeline applied, its worker running and Neo4j caught up: (the worker's pod, its process)."""
    c.create(customers=customers)
    c.secret()
    c.pipeline("shop", c.spec())
    pod, worker = c.run_worker("shop")
    c.in_sync("the shop in Neo4j")
    wait_ready(c.kube, c.namespace, "shop")
    return pod, worker


def closed_port() -> int:
    """A local port nothing listens on (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def shown(c: ShopCluster, name: str) -> dict[str, Any]:
    """The pipeline's row as `kubectl graphsync status -o json` gives it."""
    rows = json.loads(ok(plugin(c, "status", name, "-o", "json")))["syncPipelines"]
    assert [row["name"] for row in rows] == [name]
    return dict(rows[0])
