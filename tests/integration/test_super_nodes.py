"""Super-nodes: a node with far more relationships than a page holds is paged by its relationships' end
keys too, in a graph source's snapshot, differential compare and reconciliation (PostgreSQL and graph
sources), so no read holds more than a page, and nothing is skipped or read twice at the page edges."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any, LiteralString

import neo4j
import psycopg
import redis

from graphsync.compare.differential import differences
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.graphs.reading import GraphReader, Versions
from graphsync.connectors.graphs.source import GraphSnapshotSource
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.connectors.redis.state import RedisCheckpoints
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.mapping import Mappings
from graphsync.spec.reconcile import MIN_BUCKET, ReconcileSpec
from tests import graphs, shop
from tests.conftest import unique_name
from tests.integration.test_graph_sync import base, falkor_snapshot, neo4j_graph, neo4j_run, source, sync, target
from tests.integration.test_pg_to_neo4j import make_spec, schema, seed
from tests.integration.test_pg_to_neo4j import sync as pg_sync

__all__ = ["base", "make_spec", "schema", "source", "target"]

Conn = psycopg.Connection[Any]
PAGE = 200
# Person 1 knows this many others: many pages' worth.
FANS = 1500


class Largest:
    """A real reader that remembers the most rows one read returned."""

    def __init__(self, reader: GraphReader) -> None:
        self._reader = reader
        self.most = 0

    def read(self, query: LiteralString, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        result = self._reader.read(query, params)
        [[rows]] = result
        self.most = max(self.most, len(rows))
        return result

    def native(self, value: Any) -> Any:
        return self._reader.native(value)

    def close(self) -> None:
        self._reader.close()


def super_graph(driver: neo4j.Driver) -> None:
    graphs.build(neo4j_run(driver), people=2000, companies=5, knows_per_person=1)
    driver.execute_query(
        "MATCH (a:Person {id: 1}), (b:Person) WHERE b.id > 1 AND b.id <= $fans AND NOT (a)-[:KNOWS]->(b) "
        "CREATE (a)-[:KNOWS {since: 1999, updated_at: 1}]->(b)",
        fans=FANS + 1,
    )


def test_a_graph_snapshot_reads_a_super_node_in_pages_each_relationship_once_across_a_restart(
    source: neo4j.Driver, redis_client: redis.Redis
) -> None:
    super_graph(source)
    mappings = Mappings.model_validate(graphs.MAPPINGS)
    checkpoints = RedisCheckpoints(redis_client, pipeline=unique_name("snap"))
    seen: list[tuple[str, Any]] = []
    most = 0
    # The worker restarts twice (from its checkpoint), once inside the super-node's relationships.
    for pages in (12, 5, 10_000):
        reader = Largest(Neo4jReader(source))
        snapshot = GraphSnapshotSource(reader, mappings, checkpoints, versions=Versions(None, 0))
        snapshot.prepare()
        for _ in range(pages):
            batch = snapshot.read(PAGE)
            assert len(batch.changes) <= PAGE
            seen += [(change.entity, str(change.key)) for change in batch.changes]
            snapshot.commit(batch, [])
            if batch.final:
                break
        most = max(most, reader.most)
    assert batch.final
    assert most <= PAGE
    [[knows]] = source.execute_query("MATCH ()-[r:KNOWS]->() RETURN count(r)").records
    assert len([entity for entity, _ in seen if entity == "knows"]) == knows >= FANS
    assert len(seen) == len(set(seen))


def test_differential_sync_repairs_drift_inside_a_super_node_reading_a_page_at_a_time(
    base: dict[str, Any], source: neo4j.Driver, target: Graph
) -> None:
    super_graph(source)
    sync(base, "snapshot")
    expected = neo4j_graph(source)
    # Drift in the super-node's relationships, at both ends of its range and in the middle.
    target.write("MATCH (:Person {id: 1})-[k:KNOWS]->(b) WHERE b.id IN [2, 700, 1400, 1501] DELETE k")
    target.write("MATCH (:Person {id: 1})-[k:KNOWS]->(b) WHERE b.id IN [3, 900] SET k.since = 1")
    target.write(
        "MATCH (a:Person {id: 1}), (b:Person {id: 1900}) "
        "CREATE (a)-[:KNOWS {since: 5, _graphsync_version: 1, _graphsync_key: '[\"knows\",[1,1900]]'}]->(b)"
    )
    assert falkor_snapshot(target) != expected

    mappings = Mappings.model_validate(graphs.MAPPINGS)
    reader = Largest(Neo4jReader(source))
    chunks = list(differences(reader, target, mappings, versions=Versions(None, 0), content=True, chunk=PAGE))
    assert reader.most <= PAGE
    knows = sorted(str(change.key) for chunk in chunks for change in chunk if change.entity == "knows")
    assert knows == sorted(str([1, b]) for b in (2, 3, 700, 900, 1400, 1501, 1900))

    repair = sync(base, "differential")
    assert falkor_snapshot(target) == expected
    assert repair.failed == 0


def test_reconciliation_buckets_a_postgres_super_node_by_its_relationships(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    customers = 3000
    seed(pg_conn, schema, customers=customers)
    # Customer 1 likes every product: thousands of relationships from one start node.
    pg_conn.execute(
        "INSERT INTO likes SELECT 1, p.id, p.id % 5 + 1 FROM product p"
        " WHERE NOT EXISTS (SELECT 1 FROM likes l WHERE l.customer_id = 1 AND l.product_id = p.id)"
    )
    spec = make_spec(mode="snapshot", transport=None)
    pg_sync(spec)
    [[likes]] = pg_conn.execute("SELECT count(*) FROM likes").fetchall()
    assert likes == 2 * customers - 1  # customer 1 already liked one product

    neo4j_driver.execute_query("MATCH (:Customer {id: 1})-[r:LIKES]->(p) WHERE p.id IN [1, 1500, 2999] DELETE r")
    neo4j_driver.execute_query("MATCH (:Customer {id: 1})-[r:LIKES]->(p) WHERE p.id IN [7, 2500] SET r.stars = 99")
    job = {"scope": {"entities": ["likes"]}, "bucketCount": 64, "samples": 20}
    report = ReconcileSpec.model_validate(job)
    found = reconcile(spec, report, threading.Event())
    assert found.outcome is Outcome.DRIFT
    [entity] = found.entities
    # Buckets of at most MIN_BUCKET relationships each: the super-node's likes span several of them.
    assert entity.buckets >= likes // MIN_BUCKET
    assert entity.source == likes
    summary = entity.summary()
    assert sorted(item["key"] for item in summary["samples"]["missing"]) == [[1, 1], [1, 1500], [1, 2999]]
    assert sorted(item["key"] for item in summary["samples"]["different"]) == [[1, 7], [1, 2500]]

    repaired = reconcile(spec, ReconcileSpec.model_validate({**job, "action": "repair"}), threading.Event())
    assert repaired.outcome is Outcome.REPAIRED
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    assert reconcile(spec, report, threading.Event()).outcome is Outcome.IN_SYNC
