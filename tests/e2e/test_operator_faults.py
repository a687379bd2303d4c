"""A worker's target fails under it, on the real control plane and databases: a status that reads Ready
while the data plane is broken would be a bug.

The faults are made by a loopback proxy between the worker and Neo4j, so the Neo4j other tests share
keeps running: refused connections (a target that is down) while nothing flows, then a frozen
connection (a hung server, a half-open socket) while a change waits to be written.
"""

from __future__ import annotations

import pytest

from tests import http
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, condition, wait_ready
from tests.tcpproxy import Proxy

pytestmark = pytest.mark.e2e

HTTP_PORT = 8080


def degraded(c: ShopCluster, reason: str) -> dict[str, str]:
    return dict(
        eventually(
            lambda: (found := condition(c.status("shop"), "Degraded")).get("reason") == reason and found,
            f"Degraded with reason {reason}",
            timeout=90,
        )
    )


def test_an_idle_target_that_goes_down_or_hangs_degrades_the_pipeline_until_it_answers(
    cluster_shop: ShopCluster,
) -> None:
    c = cluster_shop
    c.create(customers=20)
    c.secret()
    neo4j_port = int(c.neo4j_service.env["GRAPHSYNC_NEO4J_URI"].rsplit(":", 1)[1])
    with Proxy(neo4j_port) as proxy:
        spec = c.spec()
        spec["target"]["neo4j"]["uri"] = f"bolt://127.0.0.1:{proxy.port}"
        spec["workers"] = {"stuckAfterSeconds": 10}
        c.pipeline("shop", spec)
        pod, worker = c.run_worker("shop")
        c.in_sync("the shop in Neo4j")
        wait_ready(c.kube, c.namespace, "shop")
        port = worker.ports[HTTP_PORT]
        assert http.get(port, "/readyz") == (200, "running\n")

        # Down while nothing flows: the worker's probe of the target tells, not the next change.
        proxy.refuse()
        found = degraded(c, "DataPlaneUnavailable")
        assert pod in found["message"], found
        assert "target" in found["message"], found
        assert condition(c.status("shop"), "Ready")["status"] == "False"
        status, text = http.get(port, "/readyz") or (None, "")
        assert status == 503, text
        assert text.startswith("retrying: target"), text
        # Down is not hung: the kubelet has no reason to restart the worker.
        assert http.get(port, "/healthz") == (200, "alive\n")
        proxy.restore()
        wait_ready(c.kube, c.namespace, "shop")
        assert condition(c.status("shop"), "Degraded")["status"] == "False"

        # Hung with a change waiting: the worker is stuck, its liveness fails, the pipeline says so.
        proxy.freeze()
        c.pg.execute(f"UPDATE {c.schema}.customer SET tier = 'gold' WHERE id <= 5")
        found = degraded(c, "WorkerStuck")
        assert "no read or write has come back" in found["message"], found
        status, text = http.get(port, "/healthz") or (None, "")
        assert status == 503, text
        assert text.startswith("stuck"), text
        assert worker.alive()
        # The connection comes back: the hung call returns, and the change waiting is written.
        proxy.restore()
        c.in_sync("the change made while the target hung", timeout=90)
        wait_ready(c.kube, c.namespace, "shop")
        assert http.get(port, "/healthz") == (200, "alive\n")
        worker.stop()
