"""Reconciliation at scale (PostgreSQL -> Neo4j) and between graphs (Neo4j <-> FalkorDB).

The large test runs with GRAPHSYNC_TEST_RECONCILE_ENTITIES accounts: 1,000,000 for the
documented proof (`make reconcile-1m`), fewer in CI, where it proves the same at a smaller size.
"""

from __future__ import annotations

import os
import threading
from datetime import date
from typing import Any

import neo4j
import psycopg

from graphsync.connectors.falkordb.graph import Graph
from graphsync.pipelines import run as pipeline
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome, Report
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests import accounts, graphs
from tests.conftest import unique_name
from tests.integration.test_graph_sync import base, falkor_snapshot, neo4j_graph, neo4j_run, source, sync, target

__all__ = ["base", "source", "target"]

ENTITIES = int(os.environ.get("GRAPHSYNC_TEST_RECONCILE_ENTITIES", "40000"))
Conn = psycopg.Connection[Any]


def run(spec: PipelineSpec, **job: Any) -> Report:
    return reconcile(spec, ReconcileSpec.model_validate(job), threading.Event())


def found_keys(report: Report, kind: str) -> list[Any]:
    return sorted(item["key"] for entity in report.entities for item in entity.samples[kind])


def test_drift_in_a_large_data_set_is_found_exactly_and_repaired(
    pg_conn: Conn, postgres_service: Service, neo4j_service: Service, neo4j_driver: neo4j.Driver
) -> None:
    schema = str(pg_conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    table = f"{schema}.account"
    accounts.load(pg_conn, table, ENTITIES)
    pg = postgres_service.env
    os.environ["TEST_PG_PASSWORD"] = pg["GRAPHSYNC_PG_PASSWORD"]
    spec = PipelineSpec.model_validate(
        {
            "name": unique_name("big").replace("_", "-"),
            "source": {
                "postgres": {
                    "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                    "password": {"env": "TEST_PG_PASSWORD"},
                    "schema": schema,
                }
            },
            "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
            "mappings": accounts.mappings(table),
            "mode": "snapshot",
            "batchSize": 5000,
        }
    )
    pipeline.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    made = accounts.drift(ENTITIES)
    accounts.apply_drift(neo4j_driver, made)

    found = run(spec, samples=1000)
    assert found.outcome is Outcome.DRIFT
    assert found.total("source") == ENTITIES
    assert found_keys(found, "missing") == made.deleted
    assert found_keys(found, "extra") == made.extra
    assert found_keys(found, "different") == sorted(made.edited + made.unlinked)
    assert found.total("differences") == made.total  # nothing beyond the samples either

    repaired = run(spec, action="repair")
    assert repaired.outcome is Outcome.REPAIRED
    assert repaired.total("repaired") == made.total
    again = run(spec)
    assert again.outcome is Outcome.IN_SYNC, again.summary()
    [[linked]] = neo4j_driver.execute_query("MATCH (:Account)-[r:CHILD_OF]->(:Account) RETURN count(r)").records
    assert linked == ENTITIES // 2


def test_neo4j_to_falkordb_drift_is_repaired_through_the_sink(
    base: dict[str, Any], source: neo4j.Driver, target: Graph
) -> None:
    graphs.build(neo4j_run(source), people=3000, companies=30, knows_per_person=2)
    sync(base, "snapshot")
    spec = PipelineSpec.model_validate({**base, "mode": "snapshot"})
    assert run(spec).outcome is Outcome.IN_SYNC
    target.write("MATCH (p:Person) WHERE p.id <= 5 DETACH DELETE p")
    target.write("MATCH (p:Person) WHERE p.id > 100 AND p.id <= 107 SET p.score = -1")
    target.write("MATCH (c:Company {id: 3}) REMOVE c:Organisation")
    target.write("UNWIND range(1, 4) AS i CREATE (:Person {id: 900000 + i, name: 'extra'})")
    target.write("MATCH (:Person {id: 500})-[w:WORKS_AT]->() SET w.role = 'drifted'")
    found = run(spec, bucketCount=16, samples=100)
    by_entity = {entity.entity: entity for entity in found.entities}
    assert (by_entity["person"].missing, by_entity["person"].extra, by_entity["person"].different) == (5, 4, 7)
    assert by_entity["company"].different == 1
    assert by_entity["works_at"].different == 1
    # The deleted people's relationships are missing too: every one the source has for them.
    [[lost]] = source.execute_query("MATCH (p:Person)-[k:KNOWS]-() WHERE p.id <= 5 RETURN count(k)").records
    assert by_entity["knows"].missing == lost
    assert run(spec, action="repair").outcome is Outcome.REPAIRED
    assert falkor_snapshot(target) == neo4j_graph(source)
    assert run(spec).outcome is Outcome.IN_SYNC


def test_falkordb_to_neo4j_with_temporal_values(
    falkordb_service: Service, neo4j_service: Service, neo4j_driver: neo4j.Driver, target: Graph
) -> None:
    source = target
    source.ensure_index("CREATE INDEX FOR (n:Person) ON (n.id)")
    source.ensure_index("CREATE INDEX FOR (n:Company) ON (n.id)")
    graphs.build(source.write, people=1500, companies=15, knows_per_person=2)
    source.write("MATCH (p:Person) WHERE p.id <= 30 SET p.born = date('1990-01-02'), p.seen = localdatetime()")
    spec = PipelineSpec.model_validate(
        {
            "name": unique_name("r").replace("_", "-"),
            "source": {"falkordb": {"url": falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], "graph": source.name}},
            "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
            "mappings": graphs.MAPPINGS,
            "mode": "snapshot",
        }
    )
    pipeline.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert run(spec).outcome is Outcome.IN_SYNC
    neo4j_driver.execute_query("MATCH (p:Person {id: 3}) SET p.born = date('2000-01-01')")
    neo4j_driver.execute_query("MATCH (p:Person {id: 4}) SET p.seen = datetime()")
    found = run(spec)
    assert found_keys(found, "different") == [3, 4]
    assert found.entities[0].samples["different"][0]["fields"] == ["born"]
    assert run(spec, action="repair").outcome is Outcome.REPAIRED
    assert run(spec).outcome is Outcome.IN_SYNC
    [[born]] = neo4j_driver.execute_query("MATCH (p:Person {id: 3}) RETURN p.born").records
    assert born.to_native() == date(1990, 1, 2)
