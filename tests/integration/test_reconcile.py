"""Reconciliation against real databases: drift made directly in the target is found exactly, repaired
through the sink, and a second run finds nothing; every run is in the audit."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

import neo4j
import psycopg
import pytest

from graphsync.reconcile.audit import Audit
from graphsync.reconcile.pipeline import audit_store, reconcile
from graphsync.reconcile.report import Outcome, Report
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from tests import shop
from tests.integration.test_pg_to_neo4j import make_spec, schema, seed, sync

__all__ = ["make_spec", "schema"]

Conn = psycopg.Connection[Any]


def run(spec: PipelineSpec, **job: Any) -> Report:
    return reconcile(spec, ReconcileSpec.model_validate(job), threading.Event())


def by_entity(report: Report) -> dict[str, dict[str, Any]]:
    return {entity.entity: entity.summary() for entity in report.entities}


def keys(summary: dict[str, Any], kind: str) -> list[Any]:
    return sorted(item["key"] for item in summary["samples"].get(kind, []))


DRIFT = [
    # Deleted: two customers (one with orders, whose PLACED_BY go too), one like.
    "MATCH (c:Customer) WHERE c.id IN [3, 4] DETACH DELETE c",
    "MATCH (:Customer {id: 7})-[r:LIKES]->() DELETE r",
    # Edited: a property, a removed property, a lost label, a like's stars, an order's owned relationship.
    "MATCH (c:Customer {id: 10}) SET c.name = 'edited'",
    "MATCH (p:Product {id: 11}) REMOVE p.title",
    "MATCH (c:Customer {id: 12}) REMOVE c:Person",
    "MATCH (:Customer {id: 13})-[r:LIKES]->() SET r.stars = 99",
    "MATCH (o:Order {id: 21})-[r:PLACED_BY]->() DELETE r",
    "MATCH (o:Order {id: 22}), (c:Customer {id: 30}) CREATE (o)-[:PLACED_BY]->(c)",
    # Extra: a node nobody synced, a synced-looking one, a like the source lacks.
    "CREATE (:Customer:Person {id: 9001, name: 'intruder'})",
    "CREATE (:Product {id: 9002, title: 'ghost', _graphsync_version: 5})",
    "MATCH (c:Customer {id: 15}), (p:Product {id: 40}) "
    "CREATE (c)-[:LIKES {stars: 1, customer_id: 15, product_id: 40, _graphsync_version: 1,"
    " _graphsync_key: '[\"likes\",[15,40]]'}]->(p)",
]


def test_drift_in_neo4j_is_found_exactly_repaired_and_then_gone(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=60)
    spec = make_spec(mode="snapshot", transport=None)
    sync(spec)
    clean = run(spec)
    assert clean.outcome is Outcome.IN_SYNC
    assert clean.total("source") == 60 + 60 + 120 + 60

    for statement in DRIFT:
        neo4j_driver.execute_query(statement)
    found = run(spec, bucketCount=7, samples=50)
    assert found.outcome is Outcome.DRIFT
    entities = by_entity(found)
    customer, product, order, likes = (entities[name] for name in ("customer", "product", "orders", "likes"))
    assert (customer["missing"], customer["extra"], customer["different"]) == (2, 1, 2)
    assert keys(customer, "missing") == [3, 4]
    assert keys(customer, "extra") == [9001]
    assert keys(customer, "different") == [10, 12]
    assert (product["missing"], product["extra"], product["different"]) == (0, 1, 1)
    assert keys(product, "different") == [11]
    assert product["samples"]["different"][0]["fields"] == ["title"]
    # Orders of the deleted customers lost their PLACED_BY, as did 21; 22 gained a second one.
    orphaned = sorted(row[0] for row in pg_conn.execute("SELECT id FROM orders WHERE customer_id IN (3, 4)"))
    assert keys(order, "different") == sorted([*orphaned, 21, 22])
    assert (order["missing"], order["extra"]) == (0, 0)
    # Likes: 7's was deleted, 13's edited, 15 gained one; those of deleted customers 3 and 4 went with them.
    assert keys(likes, "missing") == sorted([[3, 22], [4, 29], [7, 50]])
    assert keys(likes, "different") == [[13, 32]]
    assert keys(likes, "extra") == [[15, 40]]
    assert found.total("repaired") == 0

    repaired = run(spec, action="repair", bucketCount=7, batchSize=5)
    assert repaired.outcome is Outcome.REPAIRED
    assert repaired.total("differences") == found.total("differences")
    assert repaired.total("repaired") == found.total("differences")
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    again = run(spec)
    assert again.outcome is Outcome.IN_SYNC, again.summary()

    with ExitStack() as stack:
        with_history = Audit(audit_store(spec, stack)).runs(spec.name)
    assert [r["outcome"] for r in with_history] == ["inSync", "repaired", "drift", "inSync"]
    assert with_history[2]["missing"] == found.total("missing")
    assert with_history[2]["entities"][0]["entity"] == "customer"


def test_scope_limits_the_run_to_entity_types_and_ids(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=30)
    spec = make_spec(mode="snapshot", transport=None)
    sync(spec)
    neo4j_driver.execute_query("MATCH (c:Customer) WHERE c.id IN [5, 6] SET c.name = 'x'")
    neo4j_driver.execute_query("MATCH (p:Product {id: 5}) SET p.title = 'x'")
    only_some = run(spec, action="repair", scope={"entities": ["customer"], "ids": [6, 7]})
    assert [e.entity for e in only_some.entities] == ["customer"]
    assert only_some.total("source") == 2
    assert keys(by_entity(only_some)["customer"], "different") == [6]
    rest = run(spec)
    assert {(e.entity, e.different) for e in rest.entities if e.different} == {("customer", 1), ("product", 1)}


def test_a_job_that_does_not_fit_the_pipeline_is_refused_naming_the_item(make_spec: Any) -> None:
    spec = make_spec(mode="snapshot", transport=None)
    with pytest.raises(ValueError, match=r"scope.entities\[1\]: 'nope' is no entity type"):
        run(spec, scope={"entities": ["customer", "nope"]})
    with pytest.raises(ValueError, match=r"scope.entities\[0\]: ids select nodes, and 'likes' is a relationship"):
        run(spec, scope={"entities": ["likes"], "ids": [1]})
