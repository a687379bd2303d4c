"""GitOps on the real cluster: Argo CD's Lua health check and Flux's kstatus judge live objects, and applying the
same manifests twice changes nothing.

Each object is captured with `kubectl get -o json` as the operator left it (the new
generation from the patch's own response, before the operator could act on it).
`GRAPHSYNC_REFRESH_FIXTURES=1` writes them to tests/unit/gitops_objects/, the unit test's fixtures.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from graphsync_dev.kube import kubectl
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, condition, ok, wait_ready
from tests.gitops import EXPECTED, FIXTURES, argocd_health, kstatus
from tests.resources import resource

pytestmark = pytest.mark.e2e


def live(c: ShopCluster, name: str, kind: str = "sp") -> dict[str, Any]:
    return plain(json.loads(ok(kubectl(c.kube.env, "get", kind, name, "-n", c.namespace, "-o", "json"))))


def plain(found: dict[str, Any]) -> dict[str, Any]:
    found["metadata"].pop("managedFields", None)  # bookkeeping no health check reads
    return found


def test_argocd_and_kstatus_judge_live_objects_through_ready_degraded_suspended_invalid_and_new_generations(
    cluster_shop: ShopCluster,
) -> None:
    c = cluster_shop
    captured: dict[str, dict[str, Any]] = {}
    c.create(customers=20)
    c.secret()
    c.pipeline("shop", c.spec())
    captured["pipeline-progressing"] = eventually(
        lambda: condition((o := live(c, "shop")).get("status") or {}, "Reconciling").get("status") == "True" and o,
        "the pipeline waiting for its workers",
    )
    pod, worker = c.run_worker("shop")
    c.in_sync("the shop in Neo4j")
    wait_ready(c.kube, c.namespace, "shop")
    captured["pipeline-ready"] = live(c, "shop")

    worker.kill()
    captured["pipeline-degraded"] = eventually(
        lambda: condition((o := live(c, "shop"))["status"], "Degraded").get("status") == "True" and o, "Degraded"
    )
    worker = c.run(pod)
    wait_ready(c.kube, c.namespace, "shop")

    # The API server's answer to the patch: the new generation, the status still of the old one.
    patch = json.dumps({"spec": {"batchSize": 50}})
    patched = ok(kubectl(c.kube.env, "patch", "sp", "shop", "-n", c.namespace, "--type=merge", "-p", patch, "-o=json"))
    captured["pipeline-new-generation"] = plain(json.loads(patched))
    new = captured["pipeline-new-generation"]
    assert new["metadata"]["generation"] > new["status"]["observedGeneration"]
    _, worker = c.roll("shop", pod, worker)
    wait_ready(c.kube, c.namespace, "shop")

    ok(kubectl(c.kube.env, "patch", "sp", "shop", "-n", c.namespace, "--type=merge", "-p", '{"spec":{"suspend":true}}'))
    captured["pipeline-suspended"] = eventually(
        lambda: (o := live(c, "shop"))["status"].get("phase") == "Suspended" and o, "phase Suspended"
    )
    worker.stop()

    c.pipeline("wrong", c.spec(mode="incremental", transport=None))
    captured["pipeline-invalid"] = eventually(
        lambda: (o := live(c, "wrong")).get("status", {}).get("phase") == "Invalid" and o, "InvalidSpec"
    )

    c.apply(resource("ConflictPolicy", "careful", c.namespace, {"strategy": "sourceWins"}))
    wait_ready(c.kube, c.namespace, "careful", "conflictpolicy")
    captured["policy-ready"] = live(c, "careful", "cp")
    job = {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *", "action": "report"}
    c.apply(resource("ReconciliationJob", "nightly", c.namespace, job))
    wait_ready(c.kube, c.namespace, "nightly", "reconciliationjob")
    captured["job-ready"] = live(c, "nightly", "rj")

    labels = list(EXPECTED)
    flux = kstatus([captured[label] for label in labels])
    for label, (status, message, flux_status) in EXPECTED.items():
        judged = argocd_health(captured[label])
        assert judged[0] == status, (label, judged, captured[label].get("status"))
        assert message in judged[1], (label, judged)
        assert flux[labels.index(label)][0] == flux_status, (label, flux[labels.index(label)])
    # Degraded says what the condition says, for Argo CD's UI and its notifications.
    degraded = captured["pipeline-degraded"]["status"]
    assert argocd_health(captured["pipeline-degraded"])[1] == condition(degraded, "Degraded")["message"]
    assert pod in argocd_health(captured["pipeline-degraded"])[1]

    if os.environ.get("GRAPHSYNC_REFRESH_FIXTURES"):
        FIXTURES.mkdir(exist_ok=True)
        for label, found in captured.items():
            (FIXTURES / f"{label}.json").write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")


CHILD_KINDS = "configmaps,serviceaccounts,roles,rolebindings,deployments,services,cronjobs,secrets"


def versions(c: ShopCluster) -> dict[str, Any]:
    """The resources' generations, and the resourceVersion of every child (Leases left out: workers report there)."""
    found = json.loads(ok(kubectl(c.kube.env, "get", "sp,rj,cp", "-n", c.namespace, "-o", "json")))["items"]
    children = json.loads(ok(kubectl(c.kube.env, "get", CHILD_KINDS, "-n", c.namespace, "-o", "json")))["items"]
    return {
        "generations": {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["generation"] for o in found},
        "children": {f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["resourceVersion"] for o in children},
        "child generations": {
            f"{o['kind']}/{o['metadata']['name']}": o["metadata"]["generation"]
            for o in children
            if "generation" in o["metadata"]
        },
    }


def test_applying_the_same_manifests_twice_changes_nothing(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    c.create(customers=10)
    c.secret()
    manifests = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            resource("ConflictPolicy", "careful", c.namespace, {"strategy": "sourceWins"}),
            resource("SyncPipeline", "shop", c.namespace, c.spec()),
            resource(
                "ReconciliationJob",
                "nightly",
                c.namespace,
                {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *", "action": "repair"},
            ),
        ],
    }

    def apply() -> str:
        return ok(kubectl(c.kube.env, "apply", "--server-side", "-f", "-", input=json.dumps(manifests)))

    apply()
    _, worker = c.run_worker("shop")
    c.in_sync("the shop in Neo4j")
    for name, kind in (("shop", "syncpipeline"), ("nightly", "reconciliationjob"), ("careful", "conflictpolicy")):
        wait_ready(c.kube, c.namespace, name, kind)
    before = versions(c)
    assert {"Deployment/shop-worker", "ConfigMap/shop-pipeline", "CronJob/nightly-reconcile"} <= set(before["children"])

    again = apply()
    assert "serverside-applied" in again
    time.sleep(5)  # the operator refreshes every second: time for anything it would rewrite
    after = versions(c)
    assert after == before
    worker.stop()
