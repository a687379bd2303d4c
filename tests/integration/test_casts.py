"""Casts on real servers: PostgreSQL timestamps, dates and JSON columns become graph temporal values and
properties of their own in Neo4j and FalkorDB, through snapshots and the live stream; the reconciliation,
reading the source through the same casts, finds the target in sync; a value that does not fit its cast is
dead-lettered naming column and value; FalkorDB's policy for zoned date-times is followed either way.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import neo4j
import psycopg

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests.conftest import unique_name
from tests.integration.test_pg_to_neo4j import make_spec, seed, sync

__all__ = ["make_spec"]

Conn = psycopg.Connection[Any]
CAST = {"joined": "dateTime", "born": "date", "seen": "localDateTime", "prefs": "flatten", "score": "integer"}


def customers_only(schema: str, cast: dict[str, str]) -> dict[str, Any]:
    properties = {"exclude": ["secret"], "cast": cast}
    node = {"name": "customer", "table": f"{schema}.customer", "labels": ["Customer"], "key": "id"}
    return {"nodes": [{**node, "properties": properties}]}


def typed_columns(conn: Conn, *, fraction: bool = True) -> None:
    joined = "timestamptz" if fraction else "timestamptz(0)"
    conn.execute(f"ALTER TABLE customer ADD COLUMN joined {joined}, ADD COLUMN born date, ADD COLUMN seen timestamp")
    conn.execute("ALTER TABLE customer ADD COLUMN prefs jsonb, ADD COLUMN score text")
    conn.execute(
        "UPDATE customer SET joined = '2026-01-02 03:04:05.123456+02', born = '1990-05-06',"
        ' seen = \'2026-01-02 03:04:05\', prefs = \'{"theme": "dark", "notify": {"email": true}}\','
        " score = (id * 10)::text"
    )


def refused(spec: PipelineSpec, conn: Conn) -> list[str]:
    letters = PostgresDeadLetters(conn, pipeline=spec.identity, schema=spec.postgres.schema_)
    return [letter.reason for letter in letters.list()]


def in_sync(spec: PipelineSpec) -> bool:
    report = reconcile(spec, ReconcileSpec(), threading.Event())
    return report.outcome is Outcome.IN_SYNC


def test_timestamps_dates_and_json_become_typed_properties_in_neo4j(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=20)
    typed_columns(pg_conn)
    spec = make_spec("logical", mode="snapshotThenStream", transport=None, mappings=customers_only(schema, CAST))
    sync(spec)
    # A change through the stream is cast as the snapshot's rows were.
    pg_conn.execute("UPDATE customer SET joined = '2026-07-08 09:10:11+00', score = '7' WHERE id = 2")
    sync(spec)
    query = (
        "MATCH (c:Customer {id: $id}) RETURN valueType(c.joined) AS joined, valueType(c.born) AS born,"
        " valueType(c.seen) AS seen, valueType(c.score) AS score, c.joined = datetime($at) AS instant,"
        " c.prefs_theme AS theme, c.prefs_notify_email AS email, c.prefs AS prefs, c.score AS value"
    )
    [first] = neo4j_driver.execute_query(query, id=1, at="2026-01-02T01:04:05.123456Z").records
    assert (first["joined"], first["born"], first["seen"], first["score"]) == (
        "ZONED DATETIME NOT NULL",
        "DATE NOT NULL",
        "LOCAL DATETIME NOT NULL",
        "INTEGER NOT NULL",
    )
    assert (first["instant"], first["theme"], first["email"], first["prefs"], first["value"]) == (
        True,
        "dark",
        True,
        None,
        10,
    )
    [second] = neo4j_driver.execute_query(query, id=2, at="2026-07-08T09:10:11Z").records
    assert (second["instant"], second["value"]) == (True, 7)
    assert refused(spec, pg_conn) == []
    assert in_sync(spec)

    pg_conn.execute("UPDATE customer SET score = 'many', name = 'poison' WHERE id = 3")
    sync(spec)
    [reason] = refused(spec, pg_conn)
    assert "column 'score' (integer): 'many' is not a whole number" in reason
    assert neo4j_driver.execute_query("MATCH (c:Customer {id: 3}) RETURN c.name AS n").records[0]["n"] == "name 3"


def test_falkordb_follows_its_policy_for_zoned_date_times(
    make_spec: Any, pg_conn: Conn, schema: str, falkordb_service: Service
) -> None:
    seed(pg_conn, schema, customers=10)
    typed_columns(pg_conn, fraction=False)
    url = falkordb_service.env["GRAPHSYNC_FALKORDB_URL"]
    cast = {"joined": "dateTime", "born": "date", "seen": "localDateTime"}

    def pipeline(policy: str) -> tuple[PipelineSpec, falkor_graph.Graph]:
        graph = unique_name("cast")
        target = {"falkordb": {"url": url, "graph": graph, "zonedDateTimes": policy}}
        mappings = customers_only(schema, cast)
        mappings["nodes"][0]["properties"]["exclude"] = ["secret", "prefs", "score"]
        spec = make_spec("logical", mode="snapshotThenStream", transport=None, target=target, mappings=mappings)
        return spec.model_copy(update={"name": f"{spec.name}-{policy}"}), falkor_graph.connect(url, graph)

    utc, utc_graph = pipeline("utc")
    sync(utc)
    [[joined, born, seen]] = utc_graph.read("MATCH (c:Customer {id: 1}) RETURN c.joined, c.born, c.seen")
    # The instant kept, as the local date-time it is in UTC.
    assert joined == datetime(2026, 1, 2, 1, 4, 5)
    assert (born.isoformat(), seen) == ("1990-05-06", datetime(2026, 1, 2, 3, 4, 5))
    assert refused(utc, pg_conn) == []
    assert in_sync(utc)

    strict, strict_graph = pipeline("refuse")
    sync(strict)
    reasons = refused(strict, pg_conn)
    assert len(reasons) == 10
    assert all("property 'joined' is a date-time with a time zone" in reason for reason in reasons)
    assert strict_graph.read("MATCH (c:Customer) RETURN count(c)") in ([[0]], [])
