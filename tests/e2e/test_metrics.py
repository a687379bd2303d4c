"""What Prometheus, Grafana and a log pipeline get from a real operator and a real worker on the real control
plane and databases: every metric and label the shipped dashboard's panels and variables query is exposed,
the figures agree with the data in Neo4j and with the resources' status, and the worker's log lines are JSON
carrying the pipeline and correlation ids."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from graphsync_dev.kube import kubectl
from tests import http
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, ok, wait_ready
from tests.metrics import value
from tests.promql import dashboard_queries, label_names, metric_names, rule_queries, unexposed, unread
from tests.resources import resource

pytestmark = pytest.mark.e2e

HTTP_PORT = 8080
CHART = Path(__file__).parents[2] / "charts" / "graphsync"
DASHBOARD = CHART / "dashboards" / "graphsync.json"


def scrape(port: int) -> str:
    answer = http.get(port, "/metrics")
    assert answer is not None, f"nothing serves /metrics on port {port}"
    assert answer[0] == 200, answer
    return answer[1]


def scrape_until(port: int, check: Callable[[str], bool], what: str, timeout: float = 90) -> str:
    """The first scrape that passes `check`."""

    def passing() -> str | None:
        text = scrape(port)
        return text if check(text) else None

    return str(eventually(passing, what, timeout=timeout))


def landed(c: ShopCluster) -> int:
    """What the shop's rows became in Neo4j: a node per customer, product and order, a LIKES per likes row."""
    records, _, _ = c.driver.execute_query(
        "MATCH (n) WHERE n:Customer OR n:Product OR n:Order RETURN count(n) AS nodes"
        " UNION ALL MATCH ()-[r:LIKES]->() RETURN count(r) AS nodes"
    )
    return sum(int(record["nodes"]) for record in records)


def written(text: str) -> float:
    return sum(
        value(text, "graphsync_items_total", pipeline="shop", outcome=o) or 0 for o in ("created", "updated", "deleted")
    )


def test_the_dashboard_s_metrics_are_exposed_and_tell_what_happened(
    cluster_shop: ShopCluster, operator_metrics_port: int
) -> None:
    c = cluster_shop
    c.create(customers=20)
    c.secret()
    c.pipeline("shop", c.spec())
    pod, worker = c.run_worker("shop")
    port = worker.ports[HTTP_PORT]
    c.in_sync("the shop in Neo4j")
    wait_ready(c.kube, c.namespace, "shop")

    # What the worker counts is what landed in Neo4j, and what the status says.
    text = scrape_until(
        port, lambda t: value(t, "graphsync_lag_seconds", pipeline="shop") == 0, "the worker caught up (lag 0)"
    )
    assert value(text, "graphsync_items_total", pipeline="shop", outcome="created") == landed(c) == 100
    assert value(text, "graphsync_items_total", pipeline="shop", outcome="failed") == 0
    assert value(text, "graphsync_worker_up", pipeline="shop", component="sync") == 1
    # Every row was read as a change event (a stream may deliver one again: at least once), none undecodable.
    read = value(text, "graphsync_events_total", pipeline="shop", component="sync", outcome="read")
    assert read is not None
    assert read >= 100
    assert value(text, "graphsync_events_total", pipeline="shop", outcome="rejected") == 0
    assert value(text, "graphsync_two_way_writes_total", pipeline="shop") == 0
    batches = value(text, "graphsync_batches_total", pipeline="shop")
    assert batches
    assert value(text, "graphsync_batch_duration_seconds_count", pipeline="shop") == batches
    eventually(lambda: c.status("shop").get("itemsSynced") == written(text), "itemsSynced equal to the worker's count")

    # Drift made by hand, repaired by a ReconciliationJob: the operator's figures are the run's.
    c.driver.execute_query("MATCH (c:Customer {id: 7}) DETACH DELETE c")
    c.driver.execute_query("MATCH (p:Product {id: 3}) SET p.title = 'edited by hand'")
    job = {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *", "action": "repair"}
    c.apply(resource("ReconciliationJob", "nightly", c.namespace, job))
    wait_ready(c.kube, c.namespace, "nightly", "reconciliationjob")
    ok(kubectl(c.kube.env, "annotate", "rj", "nightly", "-n", c.namespace, "graphsync.io/reconcile-now=1"))
    reconciler = c.run(c.pod("app.kubernetes.io/instance=nightly,app.kubernetes.io/component=reconcile"))
    assert reconciler.wait(180) == 0, reconciler.log_path.read_text()[-3000:]
    last = eventually(lambda: c.status("shop").get("lastReconciliation"), "the run in the pipeline's status")
    assert last["missing"] >= 1
    assert last["different"] >= 1

    text = scrape_until(
        operator_metrics_port,
        lambda t: value(t, "graphsync_reconciliation_repaired", pipeline="shop") == last["repaired"],
        "the reconciliation in the operator's metrics",
    )
    for outcome in ("missing", "extra", "different"):
        assert value(text, "graphsync_reconciliation_differences", pipeline="shop", outcome=outcome) == last[outcome]

    # A row Neo4j cannot hold (a map property): dead-lettered, counted, and logged with its batch's id.
    c.pg.execute(f"ALTER TABLE {c.schema}.customer ADD COLUMN prefs jsonb")
    c.pg.execute(f'UPDATE {c.schema}.customer SET prefs = \'{{"theme": "dark"}}\' WHERE id = 3')
    text = scrape_until(port, lambda t: value(t, "graphsync_dead_letters", pipeline="shop") == 1, "a dead letter")
    assert value(text, "graphsync_items_total", pipeline="shop", outcome="failed") == 1

    # Every metric and label a dashboard query or template variable reads is exposed by the worker or the
    # operator, with samples (namespace, pod, ...: the scrape target's, added by Prometheus).
    families = [
        *text_string_to_metric_families(text),
        *text_string_to_metric_families(scrape(operator_metrics_port)),
    ]
    exposed: dict[str, set[str]] = {}
    for family in families:
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)
    kinds = {sample.name: family.type for family in families for sample in family.samples}
    board = json.loads(DASHBOARD.read_text())
    assert unexposed(board, exposed) == [], sorted(exposed)
    # So does every alert of the chart's PrometheusRule, as Helm renders it.
    rendered = ok(
        subprocess.run(
            [c.kube.env["GRAPHSYNC_HELM"], "template", "g", str(CHART), "--set", "alerts.enabled=true"],
            capture_output=True,
            text=True,
            check=False,
        )
    )
    [rule] = [doc for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "PrometheusRule"]
    alerts = [(expr, label_names(expr)) for expr in rule_queries(rule)]
    assert len(alerts) == 7
    assert unread(alerts, exposed) == [], sorted(exposed)
    queried = {name for expr in dashboard_queries(board) for name in metric_names(expr)}
    for name in queried:
        if name.endswith(("_bucket", "_sum", "_count")) and name.rsplit("_", 1)[0] + "_bucket" in kinds:
            assert kinds[name] == "histogram", name
    # The dead letter above makes the pipeline Degraded (ItemsDeadLettered) while it stays Ready.
    operator_text = scrape_until(
        operator_metrics_port,
        lambda t: value(t, "graphsync_operator_resources", kind="SyncPipeline", phase="Degraded", ready="True") == 1,
        "the pipeline counted Degraded and Ready",
    )
    assert value(operator_text, "graphsync_operator_handler_runs_total", kind="SyncPipeline", outcome="success")
    assert value(operator_text, "graphsync_operator_api_requests_total", verb="apply", resource="deployments")
    assert value(operator_text, "graphsync_operator_status_writes_total", kind="SyncPipeline", result="written")
    assert value(
        operator_text, "graphsync_operator_handler_status_patches_total", kind="SyncPipeline", outcome="success"
    )

    # The worker's log: one JSON object per line, naming the pipeline and pod; a batch's lines carry its id.
    worker.stop()
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message"} <= line.keys(), line
        assert line.get("pod") == pod, line
    named: list[dict[str, Any]] = [line for line in lines if line.get("pipeline") == "shop"]
    assert len(named) >= len(lines) - 3, "only the lines before the spec is read may lack the pipeline"
    dead = [line for line in named if "dead-letter store" in line["message"]]
    assert dead, [line["message"] for line in named]
    assert len(dead[0]["correlation_id"]) == 16
