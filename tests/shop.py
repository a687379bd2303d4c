"""A small shop schema used across the PostgreSQL -> graph tests, and its expected graph.

The expected graph is computed here independently of the engine's mapping code:
straight from the tables, by the rules a user reads in the mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import neo4j
import psycopg
from psycopg import sql

from graphsync.connectors.falkordb.graph import Graph as FalkorGraph
from graphsync_dev import sample

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

    def rows(query: str) -> list[dict[str, Any]]:
        return [record.data() for record in driver.execute_query(query)[0]]

    return _graph(rows)


def actual_falkordb(graph: FalkorGraph) -> Graph:
    """The same view of a FalkorDB graph (one not made yet is empty)."""

    def rows(query: str) -> list[dict[str, Any]]:
        if not graph.client.exists(graph.name):
            return []
        columns = [name.strip() for name in query.rsplit("RETURN", 1)[1].split(",")]
        names = [column.rsplit(" AS ", 1)[1] for column in columns]
        return [dict(zip(names, row, strict=True)) for row in graph.read(query)]

    return _graph(rows)


def _graph(rows: Callable[[str], list[dict[str, Any]]]) -> Graph:
    nodes: dict[tuple[str, ...], dict[Any, dict[str, Any]]] = {}
    for record in rows(
        # The engine's own records (tombstones, reconciliations, runs, version schemes) are not the user's data.
        "MATCH (n) WHERE none(label IN labels(n) WHERE label STARTS WITH 'Graphsync')"
        " RETURN labels(n) AS labels, properties(n) AS props"
    ):
        labels = tuple(sorted(record["labels"]))
        props = _user(record["props"])
        nodes.setdefault(labels, {})[props.get("id")] = props
    relationships: set[tuple[Any, ...]] = set()
    for record in rows(
        "MATCH (a)-[r]->(b) RETURN type(r) AS type, labels(a) AS a_labels, a.id AS a_id,"
        " labels(b) AS b_labels, b.id AS b_id, properties(r) AS props"
    ):
        pairs = tuple(sorted(_user(record["props"]).items()))
        source = (tuple(sorted(record["a_labels"])), record["a_id"])
        target = (tuple(sorted(record["b_labels"])), record["b_id"])
        relationships.add((record["type"], source, target, pairs))
    return {"nodes": nodes, "relationships": relationships}


def _user(props: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in props.items() if not k.startswith("_graphsync")}


def _drop_nulls(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if v is not None}
