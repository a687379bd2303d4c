"""Secret values stay in their Secret: a synced pipeline's objects, statuses, Events and the logs of the operator
and its worker never hold them (they are only referenced, and read by the worker from its environment)."""

from __future__ import annotations

from pathlib import Path

import pytest

from graphsync_dev.kube import kubectl
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, condition, ok

pytestmark = pytest.mark.e2e

# Everything in the namespace a user, a GitOps tool or a log shipper reads, Secrets aside.
KINDS = ",".join(
    [
        *("syncpipelines", "reconciliationjobs", "configmaps", "deployments", "services", "serviceaccounts"),
        *("roles", "rolebindings", "leases", "cronjobs", "jobs", "pods", "events"),
    ]
)


def test_no_secret_value_leaves_its_secret(cluster_shop: ShopCluster, operator: Path) -> None:
    c = cluster_shop
    c.create(customers=10)
    c.secret()
    c.pipeline("sealed", c.spec())
    _, worker = c.run_worker("sealed")
    try:
        c.in_sync("the shop in Neo4j")
        eventually(lambda: condition(c.status("sealed"), "Ready").get("status") == "True", "the pipeline ready")
        objects = ok(kubectl(c.kube.env, "get", KINDS, "-n", c.namespace, "-o", "json"))
    finally:
        worker.stop()
    values = [
        v for v in (c.postgres.env["GRAPHSYNC_PG_PASSWORD"], c.neo4j_service.env.get("GRAPHSYNC_NEO4J_PASSWORD")) if v
    ]
    assert values
    for where, text in (
        ("the namespace's objects", objects),
        ("the worker's log", worker.log_path.read_text()),
        ("the operator's log", operator.read_text()),
    ):
        for value in values:
            assert value not in text, f"a secret value in {where}"
