"""FalkorDB to FalkorDB, in every mode a graph source has: a snapshot built aside and switched in at once,
incremental (watermarks, a key scan for deletes) and differential; checkpoints on the FalkorDB server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.graph import Graph
from graphsync.positions import positions
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests import graphs
from tests.conftest import unique_name
from tests.integration.test_graph_sync import falkor_snapshot, sync

PEOPLE = 500


@pytest.fixture
def graphs_pair(falkordb_service: Service) -> Iterator[tuple[Graph, Graph]]:
    url = falkordb_service.env["GRAPHSYNC_FALKORDB_URL"]
    pair = (falkor_graph.connect(url, unique_name("src")), falkor_graph.connect(url, unique_name("dst")))
    yield pair
    for graph in pair:
        graph.drop()
        graph.close()


def test_a_falkordb_graph_is_mirrored_into_another_in_every_mode(
    falkordb_service: Service, graphs_pair: tuple[Graph, Graph]
) -> None:
    source, target = graphs_pair
    for label in ("Person", "Company"):
        source.ensure_index(f"CREATE INDEX FOR (n:{label}) ON (n.id)")
    graphs.build(source.write, people=PEOPLE, companies=10, knows_per_person=2)
    url = falkordb_service.env["GRAPHSYNC_FALKORDB_URL"]
    spec: dict[str, Any] = {
        "name": unique_name("ff").replace("_", "-"),
        "source": {
            "falkordb": {
                "url": url,
                "graph": source.name,
                "reading": {"watermarkProperty": "updated_at", "deleteScanIntervalSeconds": 0.01},
            }
        },
        "target": {"falkordb": {"url": url, "graph": target.name}},
        "mappings": graphs.MAPPINGS,
        "batchSize": 500,
    }

    assert sync(spec, "snapshot").failed == 0
    assert falkor_snapshot(target) == falkor_snapshot(source)

    source.write("MATCH (p:Person) WHERE p.id % 10 = 1 SET p.name = 'renamed', p.updated_at = 1000000000")
    source.write("MATCH (p:Person) WHERE p.id % 10 = 2 DETACH DELETE p")
    source.write("CREATE (:Person {id: 900001, name: 'new', updated_at: 1000000000})")
    assert sync(spec, "incremental").failed == 0
    assert falkor_snapshot(target) == falkor_snapshot(source)
    incremental = PipelineSpec.model_validate({**spec, "mode": "incremental"})
    assert {(p.store, p.name) for p in positions(incremental)} >= {("falkordb", "watermark:person")}

    target.write("MATCH (p:Person) WHERE p.id <= 5 SET p.name = 'drift'")
    target.write("CREATE (:Person {id: 990001, name: 'stray', _graphsync_version: 1})")
    assert sync(spec, "differential").failed == 0
    assert falkor_snapshot(target) == falkor_snapshot(source)
    assert reconcile(incremental, ReconcileSpec(), threading.Event()).outcome is Outcome.IN_SYNC
