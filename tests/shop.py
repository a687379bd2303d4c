"""A small shop schema used across the PostgreSQL -> graph tests, and its expected graph.

The expected graph is computed here independently of the engine's mapping code:
straight from the tables, by the rules a user reads in the mapping.
"""

from __future__ import annotations

from typing import Any

import neo4j
import psycopg
from psycopg import sql

from graphsync.connectors.falkordb.graph import Graph as FalkorGraph
from graphsync.devenv import sample

create = sample.create
mappings = sample.mappings


Graph = dict[str, Any]
CUSTOMER = ("Customer", "Person")


def expected(conn: psycopg.Connection[Any], schema: str) -> Graph:
    def rows(table: str) -> list[dict[str, Any]]:
        query = sql.SQL("SELECT to_jsonb(t) FROM {}.{} AS t").format(sql.Identifier(schema), sql.Identifier(table))
        return [row[0] for row in conn.execute(query)]

    nodes: dict[tuple[str, ...], dict[Any, dict[str, Any]]] = {}
    for row in rows("customer"):
        row.pop("secret")
        nodes.setdefault(CUSTOMER, {})[row["id"]] = _drop_nulls(row)
    for row in rows("product"):
        nodes.setdefault(("Product",), {})[row["id"]] = _drop_nulls(row)
    relationships: set[tuple[Any, ...]] = set()
    for row in rows("orders"):
        row["total"] = row.pop("total_cents")
        nodes.setdefault(("Order",), {})[row["id"]] = _drop_nulls(row)
        if row["customer_id"] is not None:
            relationships.add(("PLACED_BY", (("Order",), row["id"]), (CUSTOMER, row["customer_id"]), ()))
    for row in rows("likes"):
        stars = (("stars", row["stars"]),)
        relationships.add(("LIKES", (CUSTOMER, row["customer_id"]), (("Product",), row["product_id"]), stars))
    return {"nodes": nodes, "relationships": relationships}


def actual(driver: neo4j.Driver) -> Graph:
    """The graph as a user sees it: engine bookkeeping (tombstones, audit records, `_graphsync_*`
    properties) left out."""
    nodes: dict[tuple[str, ...], dict[Any, dict[str, Any]]] = {}
    records, _, _ = driver.execute_query(
        "MATCH (n) WHERE NOT n:GraphsyncTombstone AND NOT n:GraphsyncReconciliation"
        " RETURN labels(n) AS labels, properties(n) AS props"
    )
    for record in records:
        labels = tuple(sorted(record["labels"]))
        props = _user(record["props"])
        nodes.setdefault(labels, {})[props.get("id")] = props
    relationships: set[tuple[Any, ...]] = set()
    records, _, _ = driver.execute_query(
        "MATCH (a)-[r]->(b) RETURN type(r) AS type, labels(a) AS a_labels, a.id AS a_id,"
        " labels(b) AS b_labels, b.id AS b_id, properties(r) AS props"
    )
    for record in records:
        props = tuple(sorted(_user(record["props"]).items()))
        source = (tuple(sorted(record["a_labels"])), record["a_id"])
        target = (tuple(sorted(record["b_labels"])), record["b_id"])
        relationships.add((record["type"], source, target, props))
    return {"nodes": nodes, "relationships": relationships}


def actual_falkordb(graph: FalkorGraph) -> Graph:
    """`actual` for a FalkorDB graph: what a user sees, engine bookkeeping left out."""
    nodes: dict[tuple[str, ...], dict[Any, dict[str, Any]]] = {}
    for labels, props in graph.read(
        "MATCH (n) WHERE NOT n:GraphsyncTombstone AND NOT n:GraphsyncReconciliation RETURN labels(n), properties(n)"
    ):
        user = _user(props)
        nodes.setdefault(tuple(sorted(labels)), {})[user.get("id")] = user
    relationships: set[tuple[Any, ...]] = set()
    for rel_type, a_labels, a_id, b_labels, b_id, props in graph.read(
        "MATCH (a)-[r]->(b) RETURN type(r), labels(a), a.id, labels(b), b.id, properties(r)"
    ):
        source = (tuple(sorted(a_labels)), a_id)
        target = (tuple(sorted(b_labels)), b_id)
        relationships.add((rel_type, source, target, tuple(sorted(_user(props).items()))))
    return {"nodes": nodes, "relationships": relationships}


def _user(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("_graphsync")}


def _drop_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}
