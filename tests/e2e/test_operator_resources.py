"""ReconciliationJobs, ConflictPolicies and refused or incomplete specs, through the operator on the real cluster."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
import yaml

from graphsync.devenv import kubelet
from graphsync.devenv.kube import kubectl
from graphsync.devenv.service import Service
from tests import shop
from tests.e2e.conftest import VENV_BIN
from tests.e2e.helpers import condition, eventually, ok, secret, status, wait_ready
from tests.resources import resource, shop_spec

pytestmark = pytest.mark.e2e


def apply(kube: Service, manifest: dict[str, Any]) -> None:
    ok(kubectl(kube.env, "apply", "-f", "-", input=json.dumps(manifest)))


def pipeline_spec(postgres: Service, redis: Service, neo4j_service: Service, schema: str) -> dict[str, Any]:
    pg = postgres.env
    return shop_spec(
        pg_url=f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
        redis_url=redis.env["GRAPHSYNC_REDIS_URL"],
        neo4j_uri=neo4j_service.env["GRAPHSYNC_NEO4J_URI"],
        schema=schema,
        neo4j_password=bool(neo4j_service.env.get("GRAPHSYNC_NEO4J_PASSWORD")),
    )


def shop_secret(kube: Service, namespace: str, postgres: Service, neo4j_service: Service) -> None:
    passwords = {
        "pg-password": postgres.env["GRAPHSYNC_PG_PASSWORD"],
        "neo4j-password": neo4j_service.env.get("GRAPHSYNC_NEO4J_PASSWORD", ""),
    }
    apply(kube, secret(namespace, passwords))


def events(kube: Service, namespace: str, name: str) -> list[str]:
    found = json.loads(
        ok(
            kubectl(
                kube.env, "get", "events", "-n", namespace, f"--field-selector=involvedObject.name={name}", "-o", "json"
            )
        )
    )
    return [f"{e['type']} {e['reason']}: {e['message']}" for e in found["items"]]


def test_a_reconciliation_job_runs_now_on_request_repairs_drift_and_reports(
    kube: Service,
    namespace: str,
    operator: Path,
    pg_conn: psycopg.Connection[Any],
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
) -> None:
    schema = str(pg_conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    shop.create(pg_conn, schema)
    shop.sample.seed(pg_conn, schema, customers=30)
    shop_secret(kube, namespace, postgres_service, neo4j_service)
    apply(
        kube,
        resource(
            "SyncPipeline", "shop", namespace, pipeline_spec(postgres_service, redis_service, neo4j_service, schema)
        ),
    )
    pod = kubelet.wait_pods(kube.env, namespace, "app.kubernetes.io/instance=shop,app.kubernetes.io/component=sync")[0]
    worker = kubelet.run_pod(kube.env, namespace, pod, tmp_path / "pods", python_bin=VENV_BIN)
    expected = shop.expected(pg_conn, schema)
    eventually(lambda: shop.actual(neo4j_driver) == expected, "the shop in Neo4j", timeout=120)

    job = {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *", "action": "repair"}
    apply(kube, resource("ReconciliationJob", "nightly", namespace, job))
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
    neo4j_driver.execute_query("MATCH (c:Customer {id: 7}) DETACH DELETE c")
    neo4j_driver.execute_query("MATCH (p:Product {id: 3}) SET p.title = 'edited by hand'")
    ok(kubectl(kube.env, "annotate", "rj", "nightly", "-n", namespace, "graphsync.io/reconcile-now=first"))
    selector = "app.kubernetes.io/instance=nightly,app.kubernetes.io/component=reconcile"
    # kwok marks a Job's pod Succeeded at once; here the pod's process is what does the work.
    run = eventually(
        lambda: ok(kubectl(kube.env, "get", "pods", "-n", namespace, "-l", selector, "-o", "name")).split(),
        "the reconciliation Job's pod",
    )[0].removeprefix("pod/")
    reconciler = kubelet.run_pod(kube.env, namespace, run, tmp_path / "pods", python_bin=VENV_BIN)
    assert reconciler.wait(180) == 0, reconciler.log_path.read_text()[-3000:]
    eventually(lambda: shop.actual(neo4j_driver) == expected, "the drift repaired")

    found = eventually(
        lambda: (s := status(kube, namespace, "nightly", "rj")).get("lastRun") and s, "the run in the job's status"
    )
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

    pipeline = eventually(
        lambda: (s := status(kube, namespace, "shop")).get("lastReconciliation") and s, "the pipeline's last run"
    )
    assert pipeline["lastReconciliation"]["name"] == "nightly"
    assert pipeline["lastReconciliation"]["outcome"] == "repaired"
    assert any(
        "RunStarted" in event and "nightly-reconcile-now-" in event for event in events(kube, namespace, "nightly")
    )
    # The same request value is not acted on twice.
    jobs = ok(kubectl(kube.env, "get", "jobs", "-n", namespace, "-o", "name")).split()
    assert len(jobs) == 1
    worker.stop()


def test_invalid_and_incomplete_pipelines_show_why_in_status(
    kube: Service,
    namespace: str,
    operator: Path,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
) -> None:
    spec = pipeline_spec(postgres_service, redis_service, neo4j_service, "shop")
    # Valid for the API server's schema, not for the engine: the operator says so and does not retry.
    invalid = {**spec, "mode": "incremental"}
    del invalid["transport"]
    apply(kube, resource("SyncPipeline", "wrong", namespace, invalid))
    found = eventually(lambda: (s := status(kube, namespace, "wrong")).get("phase") == "Invalid" and s, "InvalidSpec")
    ready = condition(found, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "mode incremental needs source.postgres.watermarkColumn" in ready["message"]
    assert condition(found, "Stalled")["status"] == "True"
    assert not ok(kubectl(kube.env, "get", "deploy", "-n", namespace, "-o", "name")).strip()

    # A Secret that does not exist yet: a condition naming it, retried until it appears.
    apply(kube, resource("SyncPipeline", "early", namespace, spec))
    found = eventually(
        lambda: (
            (s := status(kube, namespace, "early")) and condition(s, "Ready").get("reason") == "SecretMissing" and s
        ),
        "SecretMissing",
    )
    message = condition(found, "Ready")["message"]
    assert "spec.source.postgres.password.secretKeyRef: Secret 'shop-db' does not exist" in message
    shop_secret(kube, namespace, postgres_service, neo4j_service)
    eventually(
        lambda: kubectl(kube.env, "get", "deploy", "early-worker", "-n", namespace).returncode == 0,
        "the Deployment once the Secret exists",
        timeout=120,
    )
    found = eventually(
        lambda: (s := status(kube, namespace, "early")) and condition(s, "Stalled").get("status") == "False" and s,
        "the pipeline to leave SecretMissing",
    )
    assert condition(found, "Ready")["reason"] in ("RollingOut", "WaitingForWorkers")


def test_a_conflict_policy_change_rolls_the_pipelines_that_use_it(
    kube: Service,
    namespace: str,
    operator: Path,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
) -> None:
    shop_secret(kube, namespace, postgres_service, neo4j_service)
    apply(kube, resource("ConflictPolicy", "careful", namespace, {"strategy": "sourceWins", "clockSkewMs": 500}))
    wait_ready(kube, namespace, "careful", "conflictpolicy")
    spec = pipeline_spec(postgres_service, redis_service, neo4j_service, "shop")
    twoway = {
        "mode": "bidirectional",
        "source": spec["source"],
        "target": spec["target"],
        "mappings": {"nodes": [{"name": "customer", "table": "shop.customer", "labels": ["Customer"], "key": "id"}]},
        "conflictPolicyRef": {"name": "careful"},
    }
    apply(kube, resource("SyncPipeline", "twoway", namespace, twoway))

    def rendered() -> dict[str, Any]:
        found = kubectl(kube.env, "get", "cm", "twoway-pipeline", "-n", namespace, "-o", "json")
        if found.returncode != 0:
            return {}
        return dict(yaml.safe_load(json.loads(found.stdout)["data"]["pipeline.yaml"]))

    def template_hash() -> str:
        deploy = json.loads(ok(kubectl(kube.env, "get", "deploy", "twoway-worker", "-n", namespace, "-o", "json")))
        return str(deploy["spec"]["template"]["metadata"]["annotations"]["graphsync.io/config-hash"])

    config = eventually(rendered, "the rendered config")
    assert config["conflictPolicy"]["strategy"] == "sourceWins"
    assert "conflictPolicyRef" not in config
    before = eventually(template_hash, "the worker Deployment")
    policy = eventually(
        lambda: (s := status(kube, namespace, "careful", "cp")).get("pipelines") == ["twoway"] and s,
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
    apply(kube, resource("ConflictPolicy", "sloppy", namespace, bad))
    found = eventually(
        lambda: (s := status(kube, namespace, "sloppy", "cp")) and condition(s, "Ready").get("status") == "False" and s,
        "the policy's InvalidSpec",
    )
    assert condition(found, "Ready")["reason"] == "InvalidSpec"
    assert "spec.entities.not a name" in condition(found, "Ready")["message"]


def test_deleting_a_pipeline_with_cleanup_removes_its_engine_state_then_the_resource(
    kube: Service,
    namespace: str,
    operator: Path,
    pg_conn: psycopg.Connection[Any],
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
) -> None:
    schema = str(pg_conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    shop.create(pg_conn, schema)
    shop.sample.seed(pg_conn, schema, customers=20)
    shop_secret(kube, namespace, postgres_service, neo4j_service)
    spec = {**pipeline_spec(postgres_service, redis_service, neo4j_service, schema), "deletionPolicy": "cleanup"}
    apply(kube, resource("SyncPipeline", "tidy", namespace, spec))
    pod = kubelet.wait_pods(kube.env, namespace, "app.kubernetes.io/instance=tidy,app.kubernetes.io/component=sync")[0]
    worker = kubelet.run_pod(kube.env, namespace, pod, tmp_path / "pods", python_bin=VENV_BIN)
    expected = shop.expected(pg_conn, schema)
    eventually(lambda: shop.actual(neo4j_driver) == expected, "the shop in Neo4j", timeout=120)
    engine_schema = spec["source"]["postgres"]["schema"]

    def triggers() -> int:
        row = pg_conn.execute(
            "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT t.tgisinternal",
            (schema,),
        ).fetchone()
        return int(row[0]) if row else 0

    def schema_exists() -> bool:
        return pg_conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (engine_schema,)).fetchone() is not None

    assert triggers() > 0
    assert schema_exists()

    ok(kubectl(kube.env, "delete", "sp", "tidy", "-n", namespace, "--wait=false"))
    # The operator stops the workers first; the kubelet stops the pod's process.
    eventually(
        lambda: kubectl(kube.env, "get", "deploy", "tidy-worker", "-n", namespace).returncode != 0, "the workers to go"
    )
    worker.stop()
    selector = "app.kubernetes.io/instance=tidy,app.kubernetes.io/component=cleanup"
    cleaner = eventually(
        lambda: ok(kubectl(kube.env, "get", "pods", "-n", namespace, "-l", selector, "-o", "name")).split(),
        "the cleanup Job's pod",
    )[0].removeprefix("pod/")
    # Still there, held by the finalizer, until the cleanup finished.
    assert kubectl(kube.env, "get", "sp", "tidy", "-n", namespace).returncode == 0
    done = kubelet.run_pod(kube.env, namespace, cleaner, tmp_path / "pods", python_bin=VENV_BIN)
    assert done.wait(120) == 0, done.log_path.read_text()[-3000:]
    eventually(lambda: kubectl(kube.env, "get", "sp", "tidy", "-n", namespace).returncode != 0, "the resource to go")
    assert triggers() == 0
    assert not schema_exists()
    # Synced data is the user's: it stays.
    assert shop.actual(neo4j_driver) == expected


def test_a_scheduled_pipeline_syncs_now_on_request(
    kube: Service,
    namespace: str,
    operator: Path,
    pg_conn: psycopg.Connection[Any],
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
) -> None:
    schema = str(pg_conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    shop.create(pg_conn, schema)
    shop.sample.seed(pg_conn, schema, customers=20)
    shop_secret(kube, namespace, postgres_service, neo4j_service)
    spec = pipeline_spec(postgres_service, redis_service, neo4j_service, schema)
    del spec["transport"]
    nightly = {**spec, "mode": "snapshot", "schedule": "0 2 * * *"}
    apply(kube, resource("SyncPipeline", "nightly-copy", namespace, nightly))
    found = eventually(
        lambda: (s := status(kube, namespace, "nightly-copy")).get("phase") == "Scheduled" and s, "Scheduled"
    )
    assert condition(found, "Ready")["status"] == "True"
    cron = json.loads(ok(kubectl(kube.env, "get", "cronjob", "nightly-copy-sync", "-n", namespace, "-o", "json")))
    assert cron["spec"]["schedule"] == "0 2 * * *"
    assert kubectl(kube.env, "get", "deploy", "nightly-copy-worker", "-n", namespace).returncode != 0

    ok(kubectl(kube.env, "annotate", "sp", "nightly-copy", "-n", namespace, "graphsync.io/sync-now=1"))
    selector = "app.kubernetes.io/instance=nightly-copy,app.kubernetes.io/component=sync"
    pod = eventually(
        lambda: ok(kubectl(kube.env, "get", "pods", "-n", namespace, "-l", selector, "-o", "name")).split(),
        "the Job's pod",
    )[0].removeprefix("pod/")
    assert pod.startswith("nightly-copy-sync-now-")
    run = kubelet.run_pod(kube.env, namespace, pod, tmp_path / "pods", python_bin=VENV_BIN)
    assert run.wait(120) == 0, run.log_path.read_text()[-3000:]
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    found = eventually(
        lambda: (s := status(kube, namespace, "nightly-copy")).get("itemsSynced", 0) >= 20 + 20 + 40 + 20 and s,
        "the run's count in status",
    )
    assert found["lastSyncTime"]
    assert found["handledRequests"] == {"graphsync.io/sync-now": "1"}
    assert found["phase"] == "Scheduled"
