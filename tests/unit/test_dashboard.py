"""The Grafana dashboard the chart ships: well formed, filtered by namespace and pipeline (sync workers by their
component), and reading only metrics and labels the worker and the operator export (from their own code;
tests/e2e/test_metrics.py checks real scrapes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from graphsync.runner.stats import Histogram
from graphsync_operator import metrics
from graphsync_operator.reports import WorkerReport, WorkerState
from graphsync_operator.worker import health
from graphsync_operator.worker.readings import Snapshot
from tests.metrics import samples
from tests.promql import dashboard_queries, metric_names, unexposed

DASHBOARD = Path(__file__).parents[2] / "charts" / "graphsync" / "dashboards" / "graphsync.json"


def load() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return found


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.extend(panel.get("panels", []))
        if panel["type"] != "row":
            found.append(panel)
    return found


def test_the_data_source_the_namespace_and_the_pipeline_are_variables() -> None:
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    assert list(variables) == ["datasource", "namespace", "pipeline"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["namespace"]["query"]["query"] == "label_values(graphsync_worker_up, namespace)"
    assert (
        variables["pipeline"]["query"]["query"]
        == 'label_values(graphsync_worker_up{namespace=~"$namespace"}, pipeline)'
    )
    for name in ("namespace", "pipeline"):
        assert variables[name]["includeAll"], name
        assert variables[name]["multi"], name
        assert variables[name]["allValue"] == ".*", name
    for panel in panels(load()):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]


def test_every_pipeline_query_is_filtered_and_grouped_by_namespace_and_pipeline_and_reads_sync_workers() -> None:
    # Same-named pipelines of two namespaces stay apart; a reconcile or cleanup pod is no sync worker.
    for expr in dashboard_queries(load()):
        assert expr.count("(") == expr.count(")"), expr
        assert expr.count("{") == expr.count("}"), expr
        for name in metric_names(expr):
            if name.startswith("graphsync_operator_"):
                continue
            # The operator's reconciliation gauges name the pipeline's namespace in a label of their own.
            namespace = "pipeline_namespace" if name.startswith("graphsync_reconciliation_") else "namespace"
            selector = f'{name}{{{namespace}=~"$namespace", pipeline=~"$pipeline"'
            assert selector in expr, expr
            if namespace == "namespace":
                assert f'{selector}, component="sync"' in expr, expr
            assert f"by ({namespace}, pipeline" in expr, expr


def test_panels_do_not_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in load()["panels"]:
        box = panel["gridPos"]
        cells = {(x, y) for x in range(box["x"], box["x"] + box["w"]) for y in range(box["y"], box["y"] + box["h"])}
        assert not cells & taken, panel["title"]
        assert box["x"] + box["w"] <= 24
        taken |= cells


class Fixed(Collector):
    def __init__(self, found: list[Metric]) -> None:
        self.found = found

    def collect(self) -> list[Metric]:
        return self.found


def exported() -> dict[str, set[str]]:
    """Every sample name the worker and the operator can export, from their own code, with its label names."""
    registry = CollectorRegistry(auto_describe=False)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    report = WorkerReport(
        pod="p",
        started_at=moment,
        heartbeat=moment,
        state=WorkerState.RUNNING,
        lag_seconds=1.0,
        last_sync_time=moment,
        open_conflicts=0,
    )
    snapshot = Snapshot(batch_seconds=Histogram().observe(0.1))
    registry.register(Fixed(health.families(report, up=True, pipeline="p", snapshot=snapshot, dead_letters=0)))
    found = samples(generate_latest(registry).decode())
    metrics.handler_ran("SyncPipeline", "h", metrics.SUCCESS, 0.1)
    metrics.API_REQUESTS.labels("get", "pods", "200").inc(0)
    metrics.STATUS_WRITES.labels("SyncPipeline", "written").inc(0)
    metrics.STATUS_PATCHES.labels("SyncPipeline", metrics.SUCCESS).inc(0)
    metrics.EVENTS.labels("Normal", "Syncing").inc(0)
    status = {
        "phase": "Running",
        "lastReconciliation": {
            "outcome": "inSync",
            "startedAt": "2026-01-01T00:00:00Z",
            "finishedAt": "2026-01-01T00:00:01Z",
        },
    }
    metrics.CLUSTER.update([metrics.Seen("SyncPipeline", "ns", "p", status)])
    found += samples(generate_latest(metrics.REGISTRY).decode())
    metrics.CLUSTER.update([])
    names: dict[str, set[str]] = {}
    for sample in found:
        names.setdefault(sample.name, set()).update(sample.labels)
    return names


def test_the_dashboard_reads_only_exported_metrics_and_labels_and_shows_every_graphsync_metric() -> None:
    board = load()
    names = exported()
    assert unexposed(board, names) == []
    used = {name for expr in dashboard_queries(board) for name in metric_names(expr)}
    ours = {n for n in names if n.startswith("graphsync_") and not n.endswith("_created")}
    # A histogram is shown through its buckets; its sum and count need no panel of their own.
    assert {n for n in ours - used if not n.endswith(("_sum", "_count"))} == set()


def test_a_query_reading_a_label_no_series_has_is_found() -> None:
    board = load()
    board["templating"]["list"][1]["query"]["query"] = "label_values(graphsync_worker_up, cluster)"
    board["panels"][1]["targets"][0]["expr"] = 'sum by (shard) (graphsync_worker_up{component="sync"})'
    board["panels"][2]["targets"][0]["expr"] = "graphsync_worker_down"
    assert unexposed(board, exported()) == [
        'sum by (shard) (graphsync_worker_up{component="sync"}): graphsync_worker_up has no label shard',
        "graphsync_worker_down: graphsync_worker_down is not exposed",
        "graphsync_worker_up: graphsync_worker_up has no label cluster",
    ]
