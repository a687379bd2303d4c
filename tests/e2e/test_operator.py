"""The operator end to end: real control plane, real PostgreSQL, Redis and Neo4j, the worker pod run locally.

There is no container runtime here, so the kubelet's part is played by
`graphsync_dev.kubelet`: the worker Deployment's Pod, as the cluster made it,
runs as a local process from its own spec (command, args, env from its Secret,
its ConfigMap mounted, a token of its own service account).
"""

from __future__ import annotations

import json

import pytest
import yaml

from graphsync_dev.kube import kubectl
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, condition, ok, status, wait_ready

pytestmark = pytest.mark.e2e


def test_a_pipeline_runs_reports_degrades_recovers_rolls_suspends_and_is_collected(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    kube, namespace, pg_conn = c.kube, c.namespace, c.pg
    c.create(customers=50)
    schema = c.schema
    c.secret()
    c.pipeline("shop", c.spec())
    # The operator made the children; the cluster scheduled the worker pod; we run it.
    pod_name, worker = c.run_worker("shop")
    c.in_sync("the shop in Neo4j")
    wait_ready(kube, namespace, "shop")
    synced = 50 + 50 + 100 + 50
    found = eventually(
        lambda: (s := status(kube, namespace, "shop")).get("itemsSynced", 0) >= synced and s, "the synced count"
    )
    assert found["phase"] == "Running"
    # No finalizer unless deletionPolicy asks for a cleanup: deleting it (or its namespace) never waits for us.
    stored = json.loads(ok(kubectl(kube.env, "get", "sp", "shop", "-n", namespace, "-o", "json")))
    assert not stored["metadata"].get("finalizers")
    assert found["workers"] == "1/1"
    assert condition(found, "Stalled")["status"] == "False"
    table = ok(kubectl(kube.env, "get", "syncpipelines", "-n", namespace)).splitlines()
    row = table[1].split()
    assert row[:5] == ["shop", "postgres", "neo4j", "snapshotThenStream", "True"]
    assert int(row[5]) >= synced

    # A worker killed mid-stream: Degraded with a reason, changes made meanwhile are not lost.
    counted = found["itemsSynced"]
    worker.kill()
    pg_conn.execute(f"UPDATE {schema}.customer SET tier = 'gold' WHERE id <= 10")
    degraded = eventually(
        lambda: (
            condition(status(kube, namespace, "shop"), "Degraded").get("status") == "True"
            and status(kube, namespace, "shop")
        ),
        "Degraded",
        timeout=60,
    )
    assert condition(degraded, "Degraded")["reason"] == "WorkerSilent"
    assert pod_name in condition(degraded, "Degraded")["message"]
    assert condition(degraded, "Ready")["status"] == "False"
    # Transitions are posted as Events, as `kubectl describe` shows them.
    described = ok(kubectl(kube.env, "describe", "sp", "shop", "-n", namespace))
    assert "Warning  WorkerSilent" in described, described
    assert "Normal   Syncing" in described, described
    # The container restarts, as the kubelet would restart it.
    worker = c.run(pod_name)
    c.in_sync("the edits made while the worker was down", timeout=90)
    wait_ready(kube, namespace, "shop")
    # The restarted container goes on counting from what the killed one reported.
    eventually(lambda: status(kube, namespace, "shop")["itemsSynced"] >= counted + 10, "the count to go on")

    # A spec change rolls the workers onto the new config.
    before = json.loads(ok(kubectl(kube.env, "get", "deploy", "shop-worker", "-n", namespace, "-o", "json")))
    ok(
        kubectl(
            kube.env,
            "patch",
            "sp",
            "shop",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"batchSize": 50}}),
        )
    )
    config_hash = "graphsync.io/config-hash"
    old_hash = before["spec"]["template"]["metadata"]["annotations"][config_hash]

    def rolled() -> bool:
        now = json.loads(ok(kubectl(kube.env, "get", "deploy", "shop-worker", "-n", namespace, "-o", "json")))
        return bool(now["spec"]["template"]["metadata"]["annotations"][config_hash] != old_hash)

    eventually(rolled, "the pod template to change")
    config = json.loads(ok(kubectl(kube.env, "get", "cm", "shop-pipeline", "-n", namespace, "-o", "json")))
    assert "batchSize: 50" in config["data"]["pipeline.yaml"]
    # Secrets are referenced, never copied: the config names the env var the worker gets from the Secret.
    assert c.postgres.env["GRAPHSYNC_PG_PASSWORD"] not in json.dumps(config)
    rendered = yaml.safe_load(config["data"]["pipeline.yaml"])
    assert rendered["source"]["postgres"]["password"] == {"env": "GRAPHSYNC_SECRET_SOURCE_POSTGRES_PASSWORD"}
    _, worker = c.roll("shop", pod_name, worker)
    pg_conn.execute(f"UPDATE {schema}.product SET title = 'renamed' WHERE id = 1")
    c.in_sync("changes through the new worker", timeout=90)
    wait_ready(kube, namespace, "shop")

    # Suspend: no worker pod, phase Suspended.
    ok(kubectl(kube.env, "patch", "sp", "shop", "-n", namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}'))
    eventually(lambda: not c.workers("shop"), "the worker pod to go")
    worker.stop()
    eventually(lambda: status(kube, namespace, "shop").get("phase") == "Suspended", "phase Suspended")

    # Deletion: every child is collected with the pipeline.
    ok(kubectl(kube.env, "delete", "sp", "shop", "-n", namespace, "--wait=true", "--timeout=60s"))

    def collected() -> bool:
        left = ok(
            kubectl(
                kube.env,
                "get",
                "deploy,cm,svc,sa,role,rolebinding,lease",
                "-n",
                namespace,
                "-l",
                "graphsync.io/pipeline=shop",
                "-o",
                "name",
            )
        )
        return not left.strip()

    eventually(collected, "the children to be garbage-collected")
