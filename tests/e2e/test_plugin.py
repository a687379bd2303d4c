"""`kubectl graphsync` end to end: the real kubectl finds the plugin on PATH and runs it against the real cluster.

The plugin acts with the test's kubeconfig (the user's credentials); its `dlq --direct` reads
the pipeline's Secret and runs the engine here against the real PostgreSQL and Neo4j.
`graphsync kubectl ...` (the engine's command) hands over to the same plugin.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from graphsync_dev.kube import kubectl
from graphsync_operator.plugin.summary import PIPELINE_HEADERS
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, condition, ok, wait_ready
from tests.e2e.plugin_calls import closed_port, graphsync_kubectl, plugin, shop_running, shown
from tests.resources import resource

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("plugin_on_path")]


def test_status_pause_resume_and_sync_now_through_kubectl(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    pod, worker = shop_running(c, customers=20)
    synced = 20 + 20 + 40 + 20
    row = eventually(lambda: (r := shown(c, "shop"))["synced"] and r["synced"] >= synced and r, "the synced count")
    assert (row["ready"], row["phase"], row["workers"], row["issues"]) == ("True", "Running", "1/1", [])

    # The same table through kubectl and through `graphsync kubectl`.
    for result in (plugin(c, "status"), graphsync_kubectl(c, "status")):
        table = ok(result).splitlines()
        assert table[0] == "SyncPipelines"
        assert table[1].split() == " ".join(PIPELINE_HEADERS).split()
        cells = table[2].split()
        assert cells[:3] == ["shop", "True", "Running"]
        assert int(cells[3]) >= synced
        assert cells[6] == "1/1"

    # A ReconciliationJob of the pipeline: run now on request, its schedule paused and resumed.
    job = {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *"}
    c.apply(resource("ReconciliationJob", "nightly", c.namespace, job))
    wait_ready(c.kube, c.namespace, "nightly", "reconciliationjob")
    requested = ok(plugin(c, "reconcile-now", "nightly", "--wait"))
    assert "the operator has started it" in requested
    value = requested.split("graphsync.io/reconcile-now=")[1].split(";")[0]
    assert c.status("nightly", "rj")["handledRequests"] == {"graphsync.io/reconcile-now": value}

    def cron_suspended() -> bool:
        found = json.loads(
            ok(kubectl(c.kube.env, "get", "cronjob", "nightly-reconcile", "-n", c.namespace, "-o", "json"))
        )
        return bool(found["spec"]["suspend"])

    assert not cron_suspended()
    assert "reconciliationjob.graphsync.io/nightly paused" in ok(plugin(c, "pause", "rj/nightly", "--wait"))
    assert c.status("nightly", "rj")["phase"] == "Suspended"
    eventually(cron_suspended, "the CronJob suspended")
    ok(graphsync_kubectl(c, "resume", "rj/nightly", "--wait"))
    eventually(lambda: not cron_suspended(), "the CronJob resumed")
    # With -A, the job is shown under its pipeline, in its namespace.
    everywhere = json.loads(ok(plugin(c, "status", "shop", "-A", "-o", "json")))
    ours = [row for row in everywhere["reconciliationJobs"] if row["namespace"] == c.namespace]
    assert [(row["name"], row["pipeline"]) for row in ours] == [("nightly", "shop")]
    assert c.namespace in [row["namespace"] for row in everywhere["syncPipelines"]]

    # Pause: the user's own patch of spec.suspend; the operator removes the workers and says Suspended.
    paused = ok(plugin(c, "pause", "shop", "--wait"))
    assert "syncpipeline.graphsync.io/shop paused" in paused
    eventually(lambda: not c.workers("shop"), "the worker pod to go")
    worker.stop()
    assert shown(c, "shop")["phase"] == "Suspended"
    shown_fields = ("-o", "json", "--show-managed-fields")
    stored = json.loads(ok(kubectl(c.kube.env, "get", "sp", "shop", "-n", c.namespace, *shown_fields)))
    assert stored["spec"]["suspend"] is True
    managers = {entry["manager"] for entry in stored["metadata"]["managedFields"]}
    assert "kubectl-graphsync" in managers

    ok(plugin(c, "resume", "shop", "--wait"))
    _, worker = c.roll("shop", pod)
    wait_ready(c.kube, c.namespace, "shop")
    assert shown(c, "shop")["phase"] == "Running", json.dumps(c.status("shop")["conditions"])
    worker.stop()

    # No workers asked for: phase Suspended by reason ScaledToZero, not by spec.suspend. Paused and resumed, the
    # resume returns once the operator has acted, though the phase stays Suspended.
    c.pipeline("shop", {**c.spec(), "workers": {"replicas": 0}})
    eventually(lambda: condition(c.status("shop"), "Ready")["reason"] == "ScaledToZero", "reason ScaledToZero")
    ok(plugin(c, "pause", "shop", "--wait"))
    assert condition(c.status("shop"), "Ready")["reason"] == "Suspended"
    resumed = ok(plugin(c, "resume", "shop", "--wait", "--timeout", "30"))
    assert "the operator has acted on it" in resumed
    assert (c.status("shop")["phase"], condition(c.status("shop"), "Ready")["reason"]) == ("Suspended", "ScaledToZero")

    # sync-now on a scheduled pipeline: recorded in handledRequests, a Job made from its CronJob.
    c.pipeline("nightly-copy", c.spec(transport=None, mode="snapshot", schedule="0 2 * * *"))
    eventually(lambda: c.status("nightly-copy").get("phase") == "Scheduled", "phase Scheduled")
    requested = ok(plugin(c, "sync-now", "nightly-copy", "--wait"))
    value = requested.split("graphsync.io/sync-now=")[1].split(";")[0]
    assert "the operator has started it" in requested
    assert c.status("nightly-copy")["handledRequests"] == {"graphsync.io/sync-now": value}
    jobs = [
        job.split("/")[1] for job in ok(kubectl(c.kube.env, "get", "jobs", "-n", c.namespace, "-o", "name")).split()
    ]
    # One run per request: the sync's, and the ReconciliationJob's from reconcile-now above.
    assert sorted(job.rsplit("-", 1)[0] for job in jobs) == ["nightly-copy-sync-now", "nightly-reconcile-now"]

    # Bad input: named, exit code 2, nothing written.
    continuous = plugin(c, "sync-now", "shop")
    assert continuous.returncode == 2
    assert "runs continuously" in continuous.stderr
    unknown = plugin(c, "status", "nope")
    assert unknown.returncode == 2
    assert f"SyncPipeline 'nope' not found in namespace '{c.namespace}'" in unknown.stderr
    wrong_kind = plugin(c, "pause", "cp/careful")
    assert wrong_kind.returncode == 2
    assert "unknown kind 'cp'" in wrong_kind.stderr


def test_a_poison_row_is_listed_then_replayed_into_neo4j_after_the_mapping_is_fixed(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    pod, worker = shop_running(c, customers=10)

    # A column graph properties cannot hold (a map), on a row that also changes its name.
    c.pg.execute(f"ALTER TABLE {c.schema}.customer ADD COLUMN prefs jsonb")
    c.pg.execute(f"UPDATE {c.schema}.customer SET prefs = '{{\"theme\": \"dark\"}}', name = 'Ada' WHERE id = 3")
    c.pg.execute(f"UPDATE {c.schema}.customer SET name = 'Bo' WHERE id = 4")

    def name_of(key: int) -> str | None:
        records, _, _ = c.driver.execute_query("MATCH (n:Customer {id: $id}) RETURN n.name AS name", id=key)
        return records[0]["name"] if records else None

    eventually(lambda: name_of(4) == "Bo", "the good row to sync")
    # --direct: read the store from here with the pipeline's Secret (through its worker: test_plugin_worker.py).
    listed = eventually(lambda: "customer" in (out := ok(plugin(c, "dlq", "list", "shop", "--direct"))) and out, "a dl")
    assert listed.splitlines()[1].split()[1:3] == ["customer", "3"]
    assert "property 'prefs' is a map" in listed
    # --address: where the spec names PostgreSQL's address, the engine connects to the one given instead. Mapped to
    # the same server under another name, it lists the same; mapped to a port nothing listens on, it cannot connect
    # and says so with that port (so the mapping, not the spec's address, is what the engine used).
    port = c.postgres.env["GRAPHSYNC_PG_PORT"]
    mapped = ok(plugin(c, "dlq", "list", "shop", "--address", f"127.0.0.1:{port}=localhost:{port}"))
    assert "property 'prefs' is a map" in mapped
    closed = closed_port()
    unreachable = plugin(c, "dlq", "list", "shop", "--address", f"127.0.0.1:{port}=127.0.0.1:{closed}")
    assert unreachable.returncode == 1
    assert "kubectl graphsync: cannot reach the pipeline's database" in unreachable.stderr
    assert f"port {closed}" in unreachable.stderr
    typo = plugin(c, "dlq", "list", "shop", "--address", f"postgres.{c.namespace}.svc:5432=127.0.0.1:{port}")
    assert typo.returncode == 2
    assert f"--address postgres.{c.namespace}.svc:5432: no endpoint of pipeline shop" in typo.stderr
    assert name_of(3) == "name 3"
    eventually(lambda: (shown(c, "shop")["failed"] or 0) >= 1, "the failure counted in status")
    # Items being dead-lettered: the pipeline still runs (Ready) but is Degraded, naming where they wait.
    degraded = eventually(
        lambda: (found := condition(c.status("shop"), "Degraded"))["status"] == "True" and found, "Degraded"
    )
    assert degraded["reason"] == "ItemsDeadLettered"
    assert "dead-lettered 1 item(s)" in degraded["message"]
    assert (condition(c.status("shop"), "Ready")["status"], c.status("shop")["phase"]) == ("True", "Degraded")

    # The fix: leave the column out of the mapping; the workers roll onto it.
    spec = c.spec()
    spec["mappings"]["nodes"][0]["properties"] = {"exclude": ["secret", "prefs"]}
    c.pipeline("shop", spec)
    _, worker = c.roll("shop", pod, worker)
    wait_ready(c.kube, c.namespace, "shop")
    assert name_of(3) == "name 3"  # the record waits in the dead-letter store until replayed
    eventually(lambda: c.status("shop")["phase"] == "Running", "Running on the fixed mapping")

    replayed = ok(plugin(c, "dlq", "replay", "shop"))
    assert "replayed 1 record(s)" in replayed
    eventually(lambda: name_of(3) == "Ada", "the replayed record in Neo4j")
    records, _, _ = c.driver.execute_query("MATCH (n:Customer {id: 3}) RETURN n.prefs AS prefs")
    assert records[0]["prefs"] is None
    assert ok(plugin(c, "dlq", "list", "shop", "--direct")).strip() == "no dead letters"
    [done] = json.loads(ok(plugin(c, "dlq", "list", "shop", "--direct", "--all", "-o", "json")))
    assert done["replayedAt"] is not None

    # Each worker pod's run is in the pipeline's history: the rolled one stopped with its dead letter counted,
    # the one now running recorded from its start.
    runs = json.loads(ok(plugin(c, "history", "shop", "--kind", "sync", "--json")))
    assert [r["outcome"] for r in runs[:2]] == ["running", "stopped"]
    assert runs[1]["host"] == pod
    assert runs[1]["failed"] == 1
    assert runs[1]["synced"] >= 1
    table = ok(plugin(c, "history", "shop"))
    assert table.splitlines()[0].split() == ["STARTED", "KIND", "WHAT", "OUTCOME", "COUNTS"]
    assert "snapshotThenStream" in table
    # The status sums the same runs up from the workers' reports.
    # (The status is recomputed every few seconds: the rolled pod's final report may not be in it yet.)
    wanted = [(runs[0]["host"], "running"), (pod, "finished")]

    def both_runs() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = c.status("shop")["recentRuns"]
        return found if [(r["pod"], r["state"]) for r in found[:2]] == wanted else None

    recent = eventually(both_runs, "both runs in status, the rolled one finished")
    assert recent[1]["failed"] == 1
    worker.stop()

    # A pipeline whose Secret is missing: the plugin names the field and the Secret.
    missing = c.spec()
    missing["source"]["postgres"]["password"] = {"secretKeyRef": {"name": "elsewhere", "key": "pg-password"}}
    c.pipeline("early", missing)
    refused = plugin(c, "dlq", "list", "early", "--direct")
    assert refused.returncode == 2
    assert "spec.source.postgres.password.secretKeyRef: Secret 'elsewhere' does not exist" in refused.stderr


def test_a_conflict_held_for_review_is_listed_shown_and_resolved(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    c.create(customers=10)
    c.secret()
    c.apply(resource("ConflictPolicy", "review", c.namespace, {"strategy": "manual"}))
    spec = c.spec()
    customer = {"name": "customer", "table": f"{c.schema}.customer", "labels": ["Customer"], "key": "id"}
    twoway = {
        "mode": "bidirectional",
        "source": spec["source"],
        "target": spec["target"],
        "mappings": {"nodes": [customer]},
        "conflictPolicyRef": {"name": "review"},
    }
    c.pipeline("twoway", twoway)
    pod, worker = c.run_worker("twoway")
    wait_ready(c.kube, c.namespace, "twoway")

    def name_in_neo4j() -> str | None:
        records, _, _ = c.driver.execute_query("MATCH (n:Customer {id: 3}) RETURN n.name AS name")
        return records[0]["name"] if records else None

    eventually(lambda: name_in_neo4j() == "name 3", "the first pass in Neo4j")
    # Both sides edited while no worker runs: the next pass finds the conflict and holds it.
    ok(plugin(c, "pause", "twoway", "--wait"))
    worker.stop()
    c.pg.execute(f"UPDATE {c.schema}.customer SET name = 'from postgres' WHERE id = 3")
    c.driver.execute_query("MATCH (n:Customer {id: 3}) SET n.name = 'from neo4j'")
    ok(plugin(c, "resume", "twoway", "--wait"))
    _, worker = c.roll("twoway", pod)

    held = eventually(
        lambda: json.loads(ok(plugin(c, "conflicts", "list", "twoway", "--direct", "--json"))), "a held conflict"
    )
    assert [(h["entity"], h["key"], h["status"]) for h in held] == [("customer", 3, "open")]
    listed = ok(plugin(c, "conflicts", "list", "twoway", "--direct"))
    assert held[0]["id"] in listed
    assert "name" in listed.splitlines()[1]  # what differs
    shown_text = ok(plugin(c, "conflicts", "show", "twoway", held[0]["id"], "--direct"))
    assert '"from postgres"' in shown_text
    assert '"from neo4j"' in shown_text

    resolved = ok(plugin(c, "conflicts", "resolve", "twoway", held[0]["id"], "--take", "source", "--note", "ERP wins"))
    assert f"resolved {held[0]['id']}" in resolved
    # Recorded as the user the cluster knows (`kubectl auth whoami`), with the note.
    who = json.loads(ok(kubectl(c.kube.env, "auth", "whoami", "-o", "json")))["status"]["userInfo"]["username"]
    assert resolved.strip().endswith(f"source, by {who}")
    [record] = json.loads(ok(plugin(c, "conflicts", "list", "twoway", "--all", "--direct", "-o", "json")))
    assert (record["resolvedBy"], record["note"]) == (who, "ERP wins")
    row = c.pg.execute(f"SELECT name FROM {c.schema}.customer WHERE id = 3").fetchone()
    assert row is not None
    assert row[0] == "from postgres"
    assert name_in_neo4j() == "from postgres"
    assert json.loads(ok(plugin(c, "conflicts", "list", "twoway", "--direct", "--json"))) == []
    worker.stop()
