"""The Grafana dashboard the chart ships: well formed, filtered by pipeline, and reading only metrics the
worker and the operator export (by name, from their own code; tests/e2e/test_metrics.py checks real scrapes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from graphsync.pipeline.stats import Histogram
from graphsync_operator import health, metrics
from graphsync_operator.progress import WorkerReport, WorkerState
from graphsync_operator.snapshot import Snapshot
from tests.metrics import samples
from tests.promql import dashboard_queries, metric_names

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


def test_the_data_source_and_the_pipeline_are_variables() -> None:
    variables = {v["name"]: v for v in load()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    pipeline = variables["pipeline"]
    assert pipeline["query"]["query"] == "label_values(graphsync_worker_up, pipeline)"
    assert pipeline["includeAll"]
    assert pipeline["multi"]
    for panel in panels(load()):
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]


def test_every_worker_query_is_filtered_by_the_pipeline_variable() -> None:
    for expr in dashboard_queries(load()):
        assert expr.count("(") == expr.count(")"), expr
        assert expr.count("{") == expr.count("}"), expr
        for name in metric_names(expr):
            if not name.startswith("graphsync_operator_"):
                assert f'{name}{{pipeline=~"$pipeline"' in expr, expr


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


def exported() -> set[str]:
    """Every sample name the worker and the operator can export, from their own code."""
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
    names = {s.name for s in samples(generate_latest(registry).decode())}
    metrics.handler_ran("SyncPipeline", "h", metrics.SUCCESS, 0.1)
    metrics.API_REQUESTS.labels("get", "pods", "200").inc(0)
    metrics.STATUS_WRITES.labels("SyncPipeline", "written").inc(0)
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
    names |= {s.name for s in samples(generate_latest(metrics.REGISTRY).decode())}
    metrics.CLUSTER.update([])
    return names


def test_the_dashboard_reads_only_exported_metrics_and_shows_every_graphsync_one() -> None:
    used = {name for expr in dashboard_queries(load()) for name in metric_names(expr)}
    names = exported()
    assert used <= names, used - names
    ours = {n for n in names if n.startswith("graphsync_") and not n.endswith("_created")}
    # A histogram is shown through its buckets; its sum and count need no panel of their own.
    assert {n for n in ours - used if not n.endswith(("_sum", "_count"))} == set()
