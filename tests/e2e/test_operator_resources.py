"""ReconciliationJobs, ConflictPolicies and refused or incomplete specs, through the operator on the real cluster."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from graphsync_operator.build import names
from tests import shop
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, condition, ok, wait_ready
from tests.resources import resource

pytestmark = pytest.mark.e2e


def events(kube: Service, namespace: str, name: str) -> list[str]:
    found = json.loads(
        ok(
            kubectl(
                kube.env, "get", "events", "-n", namespace, f"--field-selector=involvedObject.name={name}", "-o", "json"
            )
        )
    )
    return [f"{e['type']} {e['reason']}: {e['message']}" for e in found["items"]]


def test_a_reconciliation_job_runs_now_on_request_repairs_drift_and_reports(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    kube, namespace = c.kube, c.namespace
    c.create(customers=30)
    c.secret()
    c.pipeline("shop", c.spec())
    _, worker = c.run_worker("shop")
    expected = c.in_sync("the shop in Neo4j")

    job = {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *", "action": "repair"}
    c.apply(resource("ReconciliationJob", "nightly", namespace, job))
    wait_ready(kube, namespace, "nightly", "reconciliationjob")
    cron = json.loads(ok(kubectl(kube.env, "get", "cronjob", "nightly-reconcile", "-n", namespace, "-o", "json")))
    assert cron["spec"]["schedule"] == "0 3 * * *"
    assert cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"][:5] == [
        "worker",
        "reconcile",
        "-f",
        "/etc/graphsync/pipeline.yaml",
        "--repair",
    ]

    # Drift made by hand, then "reconcile now".
    c.driver.execute_query("MATCH (c:Customer {id: 7}) DETACH DELETE c")
    c.driver.execute_query("MATCH (p:Product {id: 3}) SET p.title = 'edited by hand'")
    ok(kubectl(kube.env, "annotate", "rj", "nightly", "-n", namespace, "graphsync.io/reconcile-now=first"))
    selector = "app.kubernetes.io/instance=nightly,app.kubernetes.io/component=reconcile"
    # kwok marks a Job's pod Succeeded at once; here the pod's process is what does the work.
    reconciler = c.run(c.pod(selector))
    assert reconciler.wait(180) == 0, reconciler.log_path.read_text()[-3000:]
    eventually(lambda: shop.actual(c.driver) == expected, "the drift repaired")

    found = eventually(lambda: (s := c.status("nightly", "rj")).get("lastRun") and s, "the run in the job's status")
    last = found["lastRun"]
    assert last["outcome"] == "repaired"
    assert last["missing"] >= 1  # customer 7 (and the relationships that went with it)
    # Product 3, and the orders whose PLACED_BY went with customer 7.
    assert last["different"] >= 1
    assert last["repaired"] == last["missing"] + last["different"]
    assert condition(found, "InSync")["reason"] == "Repaired"
    assert found["handledRequests"] == {"graphsync.io/reconcile-now": "first"}
    listed = ok(kubectl(kube.env, "get", "rj", "nightly", "-n", namespace)).splitlines()[1].split()
    assert listed[:2] == ["nightly", "shop"]
    assert "repaired" in listed

    pipeline = eventually(lambda: (s := c.status("shop")).get("lastReconciliation") and s, "the pipeline's last run")
    assert pipeline["lastReconciliation"]["name"] == "nightly"
    assert pipeline["lastReconciliation"]["outcome"] == "repaired"
    assert any(
        "RunStarted" in event and "nightly-reconcile-now-" in event for event in events(kube, namespace, "nightly")
    )
    # The same request value is not acted on twice.
    jobs = ok(kubectl(kube.env, "get", "jobs", "-n", namespace, "-o", "name")).split()
    assert len(jobs) == 1
    worker.stop()

    # The job follows its pipeline: rendered again when the pipeline changes, stopped while it is gone.
    ok(kubectl(kube.env, "patch", "sp", "shop", "-n", namespace, "--type=merge", "-p", '{"spec":{"batchSize":50}}'))
    eventually(lambda: job_config_hash(c) == worker_config_hash(c), "the job's CronJob on the pipeline's new config")
    ok(kubectl(kube.env, "delete", "sp", "shop", "-n", namespace, "--wait=true", "--timeout=60s"))
    gone = eventually(
        lambda: condition(s := c.status("nightly", "rj"), "Ready").get("reason") == "PipelineMissing" and s,
        "the job to say its pipeline is missing",
    )
    assert condition(gone, "Ready")["status"] == "False"
    assert "spec.pipelineRef" in condition(gone, "Ready")["message"]
    assert kubectl(kube.env, "get", "cronjob", "nightly-reconcile", "-n", namespace).returncode != 0
    c.pipeline("shop", c.spec())
    wait_ready(kube, namespace, "nightly", "reconciliationjob")
    eventually(lambda: job_config_hash(c) == worker_config_hash(c), "the job's CronJob back with the pipeline")


def pod_env(template: dict[str, Any], name: str) -> str:
    env = template["spec"]["containers"][0]["env"]
    return str(next(item["value"] for item in env if item["name"] == name))


def job_config_hash(c: ShopCluster) -> str | None:
    found = kubectl(c.kube.env, "get", "cronjob", "nightly-reconcile", "-n", c.namespace, "-o", "json")
    if found.returncode != 0:
        return None
    template = json.loads(found.stdout)["spec"]["jobTemplate"]["spec"]["template"]
    return pod_env(template, "GRAPHSYNC_CONFIG_HASH")


def worker_config_hash(c: ShopCluster) -> str:
    found = json.loads(ok(kubectl(c.kube.env, "get", "deploy", "shop-worker", "-n", c.namespace, "-o", "json")))
    return pod_env(found["spec"]["template"], "GRAPHSYNC_CONFIG_HASH")


def test_invalid_and_incomplete_pipelines_show_why_in_status(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    kube, namespace = c.kube, c.namespace
    # Valid for the API server's schema, not for the engine: the operator says so and does not retry.
    c.pipeline("wrong", c.spec(mode="incremental", transport=None))
    found = eventually(lambda: (s := c.status("wrong")).get("phase") == "Invalid" and s, "InvalidSpec")
    ready = condition(found, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "mode incremental needs source.postgres.watermarkColumn" in ready["message"]
    assert condition(found, "Stalled")["status"] == "True"
    assert not ok(kubectl(kube.env, "get", "deploy", "-n", namespace, "-o", "name")).strip()

    # A Secret that does not exist yet: a condition naming it, retried until it appears.
    c.pipeline("early", c.spec())
    found = eventually(
        lambda: (s := c.status("early")) and condition(s, "Ready").get("reason") == "SecretMissing" and s,
        "SecretMissing",
    )
    message = condition(found, "Ready")["message"]
    assert "spec.source.postgres.password.secretKeyRef: Secret 'shop-db' does not exist" in message
    c.secret()
    eventually(
        lambda: kubectl(kube.env, "get", "deploy", "early-worker", "-n", namespace).returncode == 0,
        "the Deployment once the Secret exists",
        timeout=120,
    )
    found = eventually(
        lambda: (s := c.status("early")) and condition(s, "Stalled").get("status") == "False" and s,
        "the pipeline to leave SecretMissing",
    )
    assert condition(found, "Ready")["reason"] in ("RollingOut", "WaitingForWorkers")


def test_a_conflict_policy_change_rolls_the_pipelines_that_use_it(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    kube, namespace = c.kube, c.namespace
    c.secret()
    c.apply(resource("ConflictPolicy", "careful", namespace, {"strategy": "sourceWins", "clockSkewMs": 500}))
    wait_ready(kube, namespace, "careful", "conflictpolicy")
    spec = c.spec()
    twoway = {
        "mode": "bidirectional",
        "source": spec["source"],
        "target": spec["target"],
        "mappings": {"nodes": [{"name": "customer", "table": "shop.customer", "labels": ["Customer"], "key": "id"}]},
        "conflictPolicyRef": {"name": "careful"},
    }
    c.pipeline("twoway", twoway)

    def rendered() -> dict[str, Any]:
        found = kubectl(kube.env, "get", "cm", "twoway-pipeline", "-n", namespace, "-o", "json")
        if found.returncode != 0:
            return {}
        return dict(yaml.safe_load(json.loads(found.stdout)["data"]["pipeline.yaml"]))

    def template_hash() -> str:
        # "" until the Deployment exists: the operator may write the ConfigMap first.
        found = kubectl(kube.env, "get", "deploy", "twoway-worker", "-n", namespace, "-o", "json")
        if found.returncode != 0:
            return ""
        deploy = json.loads(found.stdout)
        return str(deploy["spec"]["template"]["metadata"]["annotations"]["graphsync.io/config-hash"])

    config = eventually(rendered, "the rendered config")
    assert config["conflictPolicy"]["strategy"] == "sourceWins"
    assert "conflictPolicyRef" not in config
    before = eventually(template_hash, "the worker Deployment")
    policy = eventually(
        lambda: (s := c.status("careful", "cp")).get("pipelines") == ["twoway"] and s,
        "the policy to list its pipeline",
    )
    assert condition(policy, "Ready")["status"] == "True"

    ok(
        kubectl(
            kube.env,
            "patch",
            "cp",
            "careful",
            "-n",
            namespace,
            "--type=merge",
            "-p",
            '{"spec":{"strategy":"targetWins"}}',
        )
    )
    eventually(lambda: rendered().get("conflictPolicy", {}).get("strategy") == "targetWins", "the new policy rendered")
    eventually(lambda: template_hash() != before, "the workers to roll")

    # A policy the schema lets through but the engine refuses: named in the policy's status.
    bad = {"strategy": "merge", "entities": {"not a name": {"strategy": "sourceWins"}}}
    c.apply(resource("ConflictPolicy", "sloppy", namespace, bad))
    found = eventually(
        lambda: (s := c.status("sloppy", "cp")) and condition(s, "Ready").get("status") == "False" and s,
        "the policy's InvalidSpec",
    )
    assert condition(found, "Ready")["reason"] == "InvalidSpec"
    assert "spec.entities.not a name" in condition(found, "Ready")["message"]


def test_deleting_a_pipeline_with_cleanup_removes_its_engine_state_then_the_resource(
    cluster_shop: ShopCluster,
) -> None:
    c = cluster_shop
    kube, namespace, pg_conn = c.kube, c.namespace, c.pg
    c.create(customers=20)
    c.secret()
    spec = c.spec(deletionPolicy="cleanup")
    c.pipeline("tidy", spec)
    _, worker = c.run_worker("tidy")
    expected = c.in_sync("the shop in Neo4j")
    engine_schema = spec["source"]["postgres"]["schema"]

    def triggers() -> int:
        row = pg_conn.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class r ON r.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = r.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal",
            (c.schema,),
        ).fetchone()
        return int(row[0]) if row else 0

    def schema_exists() -> bool:
        return pg_conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (engine_schema,)).fetchone() is not None

    assert triggers() > 0
    assert schema_exists()
    stored = json.loads(ok(kubectl(kube.env, "get", "sp", "tidy", "-n", namespace, "-o", "json")))
    assert stored["metadata"]["finalizers"] == ["graphsync.io/cleanup"]

    ok(kubectl(kube.env, "delete", "sp", "tidy", "-n", namespace, "--wait=false"))
    # The operator stops the workers first; the kubelet stops the pod's process.
    eventually(
        lambda: kubectl(kube.env, "get", "deploy", "tidy-worker", "-n", namespace).returncode != 0, "the workers to go"
    )
    worker.stop()
    cleaner = c.pod("app.kubernetes.io/instance=tidy,app.kubernetes.io/component=cleanup")
    # Still there, held by the finalizer, until the cleanup finished.
    assert kubectl(kube.env, "get", "sp", "tidy", "-n", namespace).returncode == 0
    done = c.run(cleaner)
    assert done.wait(120) == 0, done.log_path.read_text()[-3000:]
    eventually(lambda: kubectl(kube.env, "get", "sp", "tidy", "-n", namespace).returncode != 0, "the resource to go")
    assert triggers() == 0
    assert not schema_exists()
    # Synced data is the user's: it stays.
    assert shop.actual(c.driver) == expected


def test_a_scheduled_pipeline_syncs_now_on_request(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    kube, namespace = c.kube, c.namespace
    c.create(customers=20)
    c.secret()
    c.pipeline("nightly-copy", c.spec(transport=None, mode="snapshot", schedule="0 2 * * *"))
    found = eventually(lambda: (s := c.status("nightly-copy")).get("phase") == "Scheduled" and s, "Scheduled")
    assert condition(found, "Ready")["status"] == "True"
    cron = json.loads(ok(kubectl(kube.env, "get", "cronjob", "nightly-copy-sync", "-n", namespace, "-o", "json")))
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert kubectl(kube.env, "get", "deploy", "nightly-copy-worker", "-n", namespace).returncode != 0

    ok(kubectl(kube.env, "annotate", "sp", "nightly-copy", "-n", namespace, "graphsync.io/sync-now=1"))
    pod = c.pod("app.kubernetes.io/instance=nightly-copy,app.kubernetes.io/component=sync")
    assert pod.startswith("nightly-copy-sync-now-")
    run = c.run(pod)
    assert run.wait(120) == 0, run.log_path.read_text()[-3000:]
    assert shop.actual(c.driver) == shop.expected(c.pg, c.schema)
    found = eventually(
        lambda: (s := c.status("nightly-copy")).get("itemsSynced", 0) >= 20 + 20 + 40 + 20 and s,
        "the run's count in status",
    )
    assert found["lastSyncTime"]
    assert found["handledRequests"] == {"graphsync.io/sync-now": "1"}
    assert found["phase"] == "Scheduled"
    # On a continuous pipeline the request is refused with a Warning event.
    c.pipeline("always", c.spec())
    eventually(lambda: c.status("always").get("conditions"), "the continuous pipeline's status")
    ok(kubectl(kube.env, "annotate", "sp", "always", "-n", namespace, "graphsync.io/sync-now=1"))
    eventually(
        lambda: any("RunNowIgnored" in event for event in events(kube, namespace, "always")), "the Warning event"
    )


def test_a_pipeline_neither_takes_over_nor_deletes_objects_it_does_not_own(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    kube, namespace = c.kube, c.namespace
    c.secret()
    theirs = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": names.config_map("taken"), "namespace": namespace},
        "data": {"owner": "another team"},
    }
    c.apply(theirs)
    c.pipeline("taken", c.spec())
    found = eventually(
        lambda: (s := c.status("taken")) and condition(s, "Ready").get("reason") == "NameTaken" and s, "NameTaken"
    )
    message = condition(found, "Ready")["message"]
    assert "ConfigMap 'taken-pipeline' already exists and is not this resource's (it has no owner)" in message
    kept = json.loads(ok(kubectl(kube.env, "get", "configmap", "taken-pipeline", "-n", namespace, "-o", "json")))
    assert kept["data"] == {"owner": "another team"}
    assert "ownerReferences" not in kept["metadata"]
    # Nothing was written before the name was found taken.
    assert kubectl(kube.env, "get", "deploy", names.deployment("taken"), "-n", namespace).returncode != 0

    # Removed by its owner: the pipeline goes on, on its own (a retry with backoff).
    ok(kubectl(kube.env, "delete", "configmap", "taken-pipeline", "-n", namespace))
    eventually(
        lambda: kubectl(kube.env, "get", "deploy", names.deployment("taken"), "-n", namespace).returncode == 0,
        "the Deployment once the name is free",
        timeout=180,
    )

    # A CronJob someone else made under the name the scheduled form would use: switching to a schedule does
    # not take it, and switching back (which deletes the scheduled form's CronJob) leaves it alone.
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": names.sync_cronjob("taken"), "namespace": namespace},
        "spec": {
            "schedule": "0 0 1 1 *",
            "suspend": True,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {"restartPolicy": "Never", "containers": [{"name": "theirs", "image": "busybox"}]}
                    }
                }
            },
        },
    }
    c.apply(cron)
    c.pipeline("taken", c.spec(mode="snapshot", schedule="0 3 * * *", transport=None))
    eventually(
        lambda: (
            (s := c.status("taken"))
            and "CronJob 'taken-sync' already exists" in condition(s, "Ready").get("message", "")
            and s
        ),
        "NameTaken for the CronJob",
    )
    # Back to the very spec handled last, while the handler waits to retry: kopf sees no change and never makes
    # the retry; the operator does the handler's work for the new generation all the same.
    c.pipeline("taken", c.spec())
    generation = json.loads(ok(kubectl(kube.env, "get", "sp", "taken", "-n", namespace, "-o", "json")))["metadata"][
        "generation"
    ]
    back = eventually(
        lambda: (s := c.status("taken")) and s.get("observedGeneration") == generation and s,
        "the status of the generation set back",
        # kopf's record of the retry it will not make must be overdue first (handoff.LATE).
        timeout=180,
    )
    assert condition(back, "Ready").get("reason") != "NameTaken", back
    stored = json.loads(ok(kubectl(kube.env, "get", "cronjob", "taken-sync", "-n", namespace, "-o", "json")))
    assert stored["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["name"] == "theirs"
    assert "ownerReferences" not in stored["metadata"]
