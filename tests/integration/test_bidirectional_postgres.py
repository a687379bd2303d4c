"""Bidirectional PostgreSQL <-> Neo4j: rows and graph edits reach the other side, nothing loops, conflicts
follow the policy, and held ones are kept in the engine's schema until settled."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

import neo4j
import psycopg
import pytest
from psycopg import sql

from graphsync.pipelines import bidirectional, run
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev import sample
from graphsync_dev.service import Service
from tests.conftest import unique_name

Conn = psycopg.Connection[Any]


def mappings(schema: str) -> dict[str, Any]:
    """The shop, every column under its own name (a bidirectional pipeline renames nothing)."""
    return {
        "nodes": [
            {"name": "customer", "table": f"{schema}.customer", "labels": ["Customer", "Person"], "key": "id"},
            {"name": "product", "table": f"{schema}.product", "labels": ["Product"], "key": "id"},
            {
                "name": "orders",
                "table": f"{schema}.orders",
                "labels": ["Order"],
                "key": "id",
                "foreignKeys": [{"column": "customer_id", "references": "customer", "type": "PLACED_BY"}],
            },
        ],
        "relationships": [
            {
                "name": "likes",
                "table": f"{schema}.likes",
                "type": "LIKES",
                "from": {"column": "customer_id", "references": "customer"},
                "to": {"column": "product_id", "references": "product"},
                "key": ["customer_id", "product_id"],
            }
        ],
    }


@pytest.fixture
def spec(pg_conn: Conn, postgres_service: Service, neo4j_service: Service, monkeypatch: pytest.MonkeyPatch) -> Any:
    schema = str(pg_conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    sample.create(pg_conn, schema)
    sample.seed(pg_conn, schema, 20)
    pg_conn.execute(f"SET search_path TO {schema}")
    monkeypatch.setenv("TEST_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])

    def build(policy: dict[str, Any] | None = None) -> PipelineSpec:
        return two_way_spec(postgres_service, neo4j_service, schema, mappings(schema), policy)

    return build


def two_way_spec(
    postgres_service: Service,
    neo4j_service: Service,
    schema: str,
    mappings: dict[str, Any],
    policy: dict[str, Any] | None = None,
) -> PipelineSpec:
    """A bidirectional PostgreSQL <-> Neo4j pipeline; the password from TEST_PG_PASSWORD."""
    pg = postgres_service.env
    document: dict[str, Any] = {
        "name": unique_name("pgbi").replace("_", "-"),
        "source": {
            "postgres": {
                "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                "password": {"env": "TEST_PG_PASSWORD"},
                "schema": f"{schema}_engine",
            }
        },
        "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
        "mappings": mappings,
        "mode": "bidirectional",
    }
    if policy is not None:
        document["conflictPolicy"] = policy
    return PipelineSpec.model_validate(document)


def one_pass(spec: PipelineSpec) -> dict[str, int]:
    stop = threading.Event()
    stats = run.run(spec, RunControl(stop=stop, until_idle=True, on_batch=lambda _: stop.set()))
    assert stats.two_way is not None
    return stats.two_way.summary()


def row(conn: Conn, query: str) -> Any:
    found = conn.execute(query).fetchone()
    return found[0] if found else None


def graph(driver: neo4j.Driver, query: str) -> Any:
    records = driver.execute_query(query).records
    return records[0][0] if records else None


def test_rows_and_graph_edits_reach_the_other_side_and_nothing_loops(
    spec: Any, pg_conn: Conn, neo4j_driver: neo4j.Driver
) -> None:
    pipeline = spec()
    first = one_pass(pipeline)
    assert first["toTarget"] == 20 + 20 + 40 + 20
    assert graph(neo4j_driver, "MATCH (:Order)-[r:PLACED_BY]->(:Customer) RETURN count(r)") == 40
    assert one_pass(pipeline)["toTarget"] + one_pass(pipeline)["toSource"] == 0

    pg_conn.execute("UPDATE customer SET name = 'edited in postgres' WHERE id = 1")
    pg_conn.execute("DELETE FROM likes WHERE customer_id = 7")
    pg_conn.execute("INSERT INTO customer VALUES (100, 'new in postgres', NULL, 'gold', 'pw')")
    neo4j_driver.execute_query("MATCH (c:Customer {id: 2}) SET c.name = 'edited in neo4j'")
    neo4j_driver.execute_query("CREATE (:Customer:Person {id: 200, name: 'new in neo4j'})")
    neo4j_driver.execute_query("MATCH (o:Order {id: 5}) DETACH DELETE o")
    neo4j_driver.execute_query("MATCH (:Customer {id: 13})-[r:LIKES]->() SET r.stars = 5")
    counts = one_pass(pipeline)
    assert (counts["toTarget"], counts["toSource"], counts["held"]) == (3, 4, 0)

    assert graph(neo4j_driver, "MATCH (c:Customer {id: 1}) RETURN c.name") == "edited in postgres"
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 100}) RETURN c.tier") == "gold"
    assert graph(neo4j_driver, "MATCH (:Customer {id: 7})-[r:LIKES]->() RETURN count(r)") == 0
    assert row(pg_conn, "SELECT name FROM customer WHERE id = 2") == "edited in neo4j"
    assert row(pg_conn, "SELECT name || '/' || coalesce(tier, '-') FROM customer WHERE id = 200") == "new in neo4j/-"
    assert row(pg_conn, "SELECT count(*) FROM orders WHERE id = 5") == 0
    assert row(pg_conn, "SELECT stars FROM likes WHERE customer_id = 13") == 5
    again = one_pass(pipeline)
    assert again["toTarget"] + again["toSource"] + again["resolved"] == 0

    # Deleted on both sides: forgotten, so when it comes back it is new there, not a delete to copy.
    pg_conn.execute("INSERT INTO customer VALUES (300, 'short-lived', NULL, NULL, 'pw')")
    assert one_pass(pipeline)["toTarget"] == 1
    pg_conn.execute("DELETE FROM customer WHERE id = 300")
    neo4j_driver.execute_query("MATCH (c:Customer {id: 300}) DETACH DELETE c")
    assert one_pass(pipeline)["toTarget"] + one_pass(pipeline)["toSource"] == 0
    pg_conn.execute("INSERT INTO customer VALUES (300, 'short-lived', NULL, NULL, 'pw')")
    assert one_pass(pipeline)["toTarget"] == 1
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 300}) RETURN c.name") == "short-lived"
    assert row(pg_conn, "SELECT count(*) FROM customer WHERE id = 300") == 1


def test_a_namespaced_pipeline_starts_on_a_database_the_engine_never_ran_on(
    spec: Any, pg_conn: Conn, neo4j_driver: neo4j.Driver
) -> None:
    # A SyncPipeline's first start looks for state its bare name kept; none of the engine's tables exist yet.
    pipeline = spec().model_copy(update={"namespace": "team-a"})
    assert one_pass(pipeline)["toTarget"] == 20 + 20 + 40 + 20
    assert graph(neo4j_driver, "MATCH (c:Customer) RETURN count(c)") == 20


def test_a_row_the_graph_cannot_hold_is_reported_and_written_nowhere_until_fixed(
    spec: Any, pg_conn: Conn, neo4j_driver: neo4j.Driver
) -> None:
    pipeline = spec()
    one_pass(pipeline)
    pg_conn.execute("ALTER TABLE customer ADD COLUMN prefs jsonb")
    pg_conn.execute("""UPDATE customer SET prefs = '{"theme": "dark"}', name = 'with prefs' WHERE id = 9""")
    pg_conn.execute("UPDATE customer SET name = 'fine' WHERE id = 10")
    stop = threading.Event()
    stats = run.run(pipeline, RunControl(stop=stop, until_idle=True, on_batch=lambda _: stop.set()))
    assert stats.two_way is not None
    assert stats.two_way.failed == 1
    assert any("property 'prefs' is a map" in error for error in stats.errors)
    # Nothing was written for it on either side; the rest went through.
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 9}) RETURN c.name") == "name 9"
    assert row(pg_conn, "SELECT name FROM customer WHERE id = 9") == "with prefs"
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 10}) RETURN c.name") == "fine"
    pg_conn.execute("UPDATE customer SET prefs = NULL WHERE id = 9")
    assert one_pass(pipeline)["toTarget"] == 1
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 9}) RETURN c.name") == "with prefs"


def test_conflicts_follow_the_policy_and_manual_ones_wait_in_the_engine_schema(
    spec: Any, pg_conn: Conn, neo4j_driver: neo4j.Driver
) -> None:
    pipeline = spec({"strategy": "sourceWins", "entities": {"product": {"strategy": "manual"}}})
    one_pass(pipeline)
    pg_conn.execute("UPDATE customer SET name = 'postgres' WHERE id = 3")
    neo4j_driver.execute_query("MATCH (c:Customer {id: 3}) SET c.name = 'neo4j'")
    pg_conn.execute("UPDATE product SET title = 'postgres' WHERE id = 4")
    neo4j_driver.execute_query("MATCH (p:Product {id: 4}) SET p.title = 'neo4j'")
    counts = one_pass(pipeline)
    assert (counts["resolved"], counts["held"]) == (1, 1)
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 3}) RETURN c.name") == "postgres"
    with ExitStack() as stack:
        pair = bidirectional.TwoWay(pipeline, stack)
        [held] = pair.conflicts.list()
        assert (held.entity, held.key, held.source, held.target) == (
            "product",
            4,
            {**held.source, "title": "postgres"},  # type: ignore[dict-item]
            {**held.target, "title": "neo4j"},  # type: ignore[dict-item]
        )
        pair.settle(held.id, "target", by="test")
    assert row(pg_conn, "SELECT title FROM product WHERE id = 4") == "neo4j"
    assert graph(neo4j_driver, "MATCH (p:Product {id: 4}) RETURN p.title") == "neo4j"
    after = one_pass(pipeline)
    assert after["toTarget"] + after["toSource"] + after["held"] == 0


def test_a_sum_merge_adds_each_change_once_while_one_side_refuses_its_write(
    spec: Any, pg_conn: Conn, neo4j_driver: neo4j.Driver
) -> None:
    """PostgreSQL refuses the merged total (a CHECK constraint) while Neo4j takes it: the passes after must
    not merge the same two changes again (the total grew by the graph's change at every pass), and once
    PostgreSQL takes writes again, an edit made there meanwhile is added once."""
    pipeline = spec({"strategy": "merge", "merge": {"fields": {"total_cents": "sum"}}})
    one_pass(pipeline)
    base = row(pg_conn, "SELECT total_cents FROM orders WHERE id = 1")
    cap = sql.SQL("ALTER TABLE orders ADD CONSTRAINT capped CHECK (id <> 1 OR total_cents <= {})")
    pg_conn.execute(cap.format(sql.Literal(base + 3)))
    pg_conn.execute("UPDATE orders SET total_cents = total_cents + 3 WHERE id = 1")
    neo4j_driver.execute_query("MATCH (o:Order {id: 1}) SET o.total_cents = o.total_cents + 5")
    totals = []
    for _ in range(3):
        counts = one_pass(pipeline)
        assert counts["failed"] == 1, counts
        totals.append(graph(neo4j_driver, "MATCH (o:Order {id: 1}) RETURN o.total_cents"))
    assert totals == [base + 8] * 3
    assert row(pg_conn, "SELECT total_cents FROM orders WHERE id = 1") == base + 3

    pg_conn.execute("ALTER TABLE orders DROP CONSTRAINT capped")
    pg_conn.execute("UPDATE orders SET total_cents = total_cents + 1 WHERE id = 1")
    neo4j_driver.execute_query("MATCH (o:Order {id: 1}) SET o.total_cents = o.total_cents + 2")
    counts = one_pass(pipeline)
    assert counts["failed"] == 0, counts
    assert row(pg_conn, "SELECT total_cents FROM orders WHERE id = 1") == base + 3 + 5 + 1 + 2
    assert graph(neo4j_driver, "MATCH (o:Order {id: 1}) RETURN o.total_cents") == base + 11
    after = one_pass(pipeline)
    assert after["toTarget"] + after["toSource"] + after["resolved"] == 0


def test_a_value_a_merge_rule_cannot_combine_is_held_not_a_crash(
    spec: Any, pg_conn: Conn, neo4j_driver: neo4j.Driver
) -> None:
    pipeline = spec({"strategy": "merge", "merge": {"fields": {"total_cents": "sum"}}})
    one_pass(pipeline)
    pg_conn.execute("UPDATE orders SET total_cents = total_cents + 1 WHERE id = 2")
    neo4j_driver.execute_query("MATCH (o:Order {id: 2}) SET o.total_cents = 'lots'")
    pg_conn.execute("UPDATE customer SET name = 'still synced' WHERE id = 5")
    counts = one_pass(pipeline)
    assert counts["held"] == 1, counts
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 5}) RETURN c.name") == "still synced"
    with ExitStack() as stack:
        [held] = bidirectional.TwoWay(pipeline, stack).conflicts.list()
    assert (held.entity, held.key) == ("orders", 2)
    assert held.reason.startswith("cannot merge: sum applies to numbers, not "), held.reason
    assert "'lots'" in held.reason


def test_a_repair_of_a_two_way_pipeline_follows_its_policy_and_leaves_held_conflicts_held(
    spec: Any, pg_conn: Conn, neo4j_driver: neo4j.Driver
) -> None:
    pipeline = spec({"strategy": "lastWriteWins", "entities": {"product": {"strategy": "manual"}}})
    one_pass(pipeline)
    pg_conn.execute("UPDATE product SET title = 'postgres' WHERE id = 4")
    neo4j_driver.execute_query("MATCH (p:Product {id: 4}) SET p.title = 'neo4j'")
    assert one_pass(pipeline)["held"] == 1
    # An edit made in the graph since: the repair must take it to PostgreSQL, not undo it.
    neo4j_driver.execute_query("MATCH (c:Customer {id: 3}) SET c.name = 'edited in the graph'")

    job = ReconcileSpec.model_validate({"action": "repair", "samples": 5})
    report = reconcile(pipeline, job, threading.Event())
    assert report.outcome is Outcome.PARTIAL, report.summary()
    entities = {entity.entity: entity for entity in report.entities}
    assert (entities["customer"].different, entities["customer"].repaired, entities["customer"].failed) == (1, 1, 0)
    assert (entities["product"].different, entities["product"].repaired, entities["product"].failed) == (1, 0, 1)
    [failure] = entities["product"].samples["failed"]
    assert failure["key"] == 4
    assert "conflict held for a person" in failure["reason"]
    assert row(pg_conn, "SELECT name FROM customer WHERE id = 3") == "edited in the graph"
    assert graph(neo4j_driver, "MATCH (c:Customer {id: 3}) RETURN c.name") == "edited in the graph"
    assert row(pg_conn, "SELECT title FROM product WHERE id = 4") == "postgres"
    assert graph(neo4j_driver, "MATCH (p:Product {id: 4}) RETURN p.title") == "neo4j"
    with ExitStack() as stack:
        [held] = bidirectional.TwoWay(pipeline, stack).conflicts.list()
    assert (held.entity, held.key, held.status) == ("product", 4, "open")
