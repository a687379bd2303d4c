"""`graphsync cleanup` of a PostgreSQL pipeline on the real servers: what it created goes, the data it synced stays.

Each test runs a real pipeline first, so what the cleanup finds is what the engine
made: capture triggers, the engine's schema, streams and consumer groups, state
keys, tombstones, version marks, reconciliation records.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
import redis
import yaml
from psycopg import sql

from graphsync import capture, cli
from graphsync.cleanup import CleanupError, cleanup
from graphsync.cleanup.postgres import ENGINE_TABLES
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import sample
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import unique_name
from tests.integration.cleanup_data import audit, other_pipeline, pipeline_keys, sync

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
TABLES = ("customer", "product", "orders", "likes")


# --- PostgreSQL -> Redis Streams -> Neo4j ---------------------------------------------------------------------


@pytest.fixture
def shop_schema(pg_conn: Conn) -> str:
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    shop.create(pg_conn, row[0])
    return str(row[0])


@pytest.fixture
def engine_schema(pg_conn: Conn, shop_schema: str) -> Iterator[str]:
    """The engine's own schema, apart from the application's tables (as by default: `graphsync`)."""
    name = f"{shop_schema}_gs"
    yield name
    pg_conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture
def document(
    shop_schema: str,
    engine_schema: str,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    monkeypatch.setenv("TEST_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    pg = postgres_service.env
    return {
        "name": unique_name("p").replace("_", "-"),
        "mode": "snapshotThenStream",
        "source": {
            "postgres": {
                "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                "password": {"env": "TEST_PG_PASSWORD"},
                "schema": engine_schema,
                "capture": "triggers",
            }
        },
        "transport": {"redisStreams": {"url": redis_service.env["GRAPHSYNC_REDIS_URL"], "partitions": 3}},
        "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
        "mappings": shop.mappings(shop_schema),
        "batchSize": 100,
    }


@pytest.fixture
def others(redis_client: redis.Redis, document: dict[str, Any]) -> Iterator[list[str]]:
    yield from other_pipeline(redis_client, document["name"])


def triggers(conn: Conn, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND t.tgname LIKE 'graphsync\\_capture%%' ORDER BY c.relname",
        (schema,),
    )
    return [str(row[0]) for row in rows]


def relations(conn: Conn, schema: str) -> list[str]:
    """Tables of a schema; [] when it is gone. Sorted."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind = 'r' ORDER BY c.relname",
        (schema,),
    )
    return [str(row[0]) for row in rows]


def schema_exists(conn: Conn, schema: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,)).fetchone() is not None


def source_rows(conn: Conn, schema: str) -> dict[str, list[str]]:
    found = {}
    for table in TABLES:
        query = sql.SQL("SELECT to_jsonb(t)::text FROM {}.{} AS t ORDER BY 1").format(
            sql.Identifier(schema), sql.Identifier(table)
        )
        found[table] = [str(row[0]) for row in conn.execute(query)]
    return found


def neo4j_bookkeeping(driver: neo4j.Driver) -> dict[str, Any]:
    """Tombstones, reconciliation records, version schemes and the version marks of synced entities."""

    def value(query: str) -> Any:
        return driver.execute_query(query).records[0][0]

    return {
        "tombstones": value("MATCH (t:GraphsyncTombstone) RETURN count(t)"),
        "audit": value("MATCH (r:GraphsyncReconciliation) RETURN count(r)"),
        "version schemes": value("MATCH (s:GraphsyncVersionScheme) RETURN count(s)"),
        "node versions": sorted(
            set(value("MATCH (n) WHERE n._graphsync_version IS NOT NULL RETURN collect(n._graphsync_version)"))
        ),
        "relationship versions": sorted(
            set(value("MATCH ()-[r]->() WHERE r._graphsync_version IS NOT NULL RETURN collect(r._graphsync_version)"))
        ),
    }


def constraints(driver: neo4j.Driver) -> list[str]:
    return sorted(r["name"] for r in driver.execute_query("SHOW CONSTRAINTS YIELD name").records)


def test_cleanup_removes_triggers_schema_and_streams_keeps_the_data_and_the_pipeline_starts_again_from_scratch(
    document: dict[str, Any],
    pg_conn: Conn,
    shop_schema: str,
    engine_schema: str,
    redis_client: redis.Redis,
    neo4j_driver: neo4j.Driver,
    others: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    spec = PipelineSpec.model_validate(document)
    name = spec.name
    sample.seed(pg_conn, shop_schema, customers=20)
    sync(spec)  # capture triggers first, then the snapshot, then the stream
    pg_conn.execute("UPDATE customer SET tier = 'gold'")
    pg_conn.execute("UPDATE customer SET tier = 'silver' WHERE id <= 5")
    pg_conn.execute("DELETE FROM customer WHERE id = 20")  # its orders and like too: tombstones
    sync(spec)
    audit(spec)
    expected = shop.expected(pg_conn, shop_schema)
    assert shop.actual(neo4j_driver) == expected
    assert triggers(pg_conn, shop_schema) == sorted(TABLES)
    assert schema_exists(pg_conn, engine_schema)
    assert len(pipeline_keys(redis_client, name)) == 3
    before = neo4j_bookkeeping(neo4j_driver)
    assert before["tombstones"] > 0
    assert before["audit"] == 1
    assert before["version schemes"] == 1
    # Outbox ids, which start again at 1 once the schema is gone: customer 1 holds one above 20.
    assert max(before["node versions"]) > 20
    kept_constraints = constraints(neo4j_driver)
    rows = source_rows(pg_conn, shop_schema)

    report = cleanup(spec)

    assert sorted(report.triggers) == sorted(f"{shop_schema}.{table}" for table in TABLES)
    assert report.schema == engine_schema
    assert len(report.schema_objects) == 11
    assert report.streams == [f"graphsync:{name}:{i}" for i in range(3)]
    assert report.groups == [f"graphsync:{name}:{i} graphsync-{name}" for i in range(3)]
    assert report.keys == []
    assert report.tombstones == before["tombstones"]
    assert report.versions_reset > 0
    assert report.audit_runs == 1
    assert (report.kept, report.errors) == ([], [])
    # Nothing of the pipeline is left in PostgreSQL or Redis...
    assert triggers(pg_conn, shop_schema) == []
    assert not schema_exists(pg_conn, engine_schema)
    assert pipeline_keys(redis_client, name) == []
    # ... but another pipeline's keys, its name starting like this one's, are all there.
    assert pipeline_keys(redis_client, f"{name}2") == others
    assert [g["name"] for g in redis_client.xinfo_groups(f"graphsync:{name}2:0")] == [f"graphsync-{name}2"]
    # The synced data and the constraints stay; the source's tables and rows are untouched.
    assert shop.actual(neo4j_driver) == expected
    assert constraints(neo4j_driver) == kept_constraints
    assert neo4j_bookkeeping(neo4j_driver) == {
        "tombstones": 0,
        "audit": 0,
        "version schemes": 0,
        "node versions": [-1],
        "relationship versions": [-1],
    }
    assert relations(pg_conn, shop_schema) == sorted(TABLES)
    assert source_rows(pg_conn, shop_schema) == rows

    # A second cleanup finds nothing left, and succeeds.
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document))
    capsys.readouterr()
    assert cli.main(["cleanup", "-f", str(path), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["removed"] is False
    assert again["errors"] == []
    assert cli.main(["cleanup", "-f", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"cleanup of pipeline {name}: nothing to remove"

    # Created again, the pipeline starts from scratch: schema, triggers, streams, then every change applies
    # (the outbox numbers its events from 1 again, below the versions the data had).
    sync(spec)
    assert triggers(pg_conn, shop_schema) == sorted(TABLES)
    assert schema_exists(pg_conn, engine_schema)
    assert len(pipeline_keys(redis_client, name)) == 3
    assert shop.actual(neo4j_driver) == expected
    pg_conn.execute("UPDATE customer SET name = 'renamed' WHERE id = 1")
    pg_conn.execute("DELETE FROM likes WHERE customer_id = 2")
    pg_conn.execute("DELETE FROM customer WHERE id = 19")
    pg_conn.execute("INSERT INTO customer VALUES (21, 'new', 'n@x.io', NULL, 'pw')")
    sync(spec)
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, shop_schema)
    records = neo4j_driver.execute_query("MATCH (c:Customer {id: 1}) RETURN c.name AS name").records
    assert records[0]["name"] == "renamed"


def test_a_schema_another_pipeline_uses_keeps_its_tables_and_loses_only_this_pipelines_rows(
    document: dict[str, Any], pg_conn: Conn, shop_schema: str, engine_schema: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = PipelineSpec.model_validate(document)
    sample.seed(pg_conn, shop_schema, customers=5)
    sync(spec)
    other = PostgresCheckpoints(pg_conn, pipeline="another", schema=engine_schema)
    other.put("snapshot", {"completed": True})
    checkpoints = sql.SQL("SELECT pipeline FROM {}.checkpoint ORDER BY 1").format(sql.Identifier(engine_schema))
    assert {row[0] for row in pg_conn.execute(checkpoints)} == {spec.name, "another"}

    report = cleanup(spec)

    assert len(report.triggers) == 4
    assert triggers(pg_conn, shop_schema) == []
    assert report.schema is None
    assert report.schema_objects == []
    assert report.schema_rows > 0
    assert report.kept == [f"schema {engine_schema}: still used by pipeline(s) another"]
    assert "outbox" in relations(pg_conn, engine_schema)
    assert [row[0] for row in pg_conn.execute(checkpoints)] == ["another"]
    assert other.get("snapshot") == {"completed": True}
    assert not cleanup(spec).removed


def test_engine_tables_in_the_applications_schema_go_by_name_and_the_schema_and_its_tables_stay(
    document: dict[str, Any], pg_conn: Conn, shop_schema: str, neo4j_driver: neo4j.Driver
) -> None:
    document["source"]["postgres"]["schema"] = shop_schema
    document["mode"] = "continuous"
    spec = PipelineSpec.model_validate(document)
    capture.prepare_source(spec)
    sample.seed(pg_conn, shop_schema, customers=5)
    sync(spec)
    assert len(relations(pg_conn, shop_schema)) == len(TABLES) + 7
    rows = source_rows(pg_conn, shop_schema)

    report = cleanup(spec)

    assert report.schema is None
    assert sorted(report.schema_objects) == sorted(
        [f"{shop_schema}.{t}" for t in ENGINE_TABLES]
        + [f"{shop_schema}.{f}()" for f in ("pipeline_capture", "capture", "project", "entity_key")]
    )
    assert report.kept == [f"schema {shop_schema}: it holds objects besides the engine's"]
    assert relations(pg_conn, shop_schema) == sorted(TABLES)
    assert source_rows(pg_conn, shop_schema) == rows
    assert triggers(pg_conn, shop_schema) == []
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, shop_schema)
    assert not cleanup(spec).removed


def test_a_side_out_of_reach_is_named_and_the_others_are_cleaned_up(
    document: dict[str, Any], redis_client: redis.Redis, neo4j_driver: neo4j.Driver, tmp_path: Path
) -> None:
    spec = PipelineSpec.model_validate(document)
    sync(spec)
    assert pipeline_keys(redis_client, spec.name)
    document["source"]["postgres"]["url"] = "postgresql://nobody@127.0.0.1:1/postgres"
    unreachable = PipelineSpec.model_validate(document)

    with pytest.raises(CleanupError, match=r"source\.postgres \(postgresql://127\.0\.0\.1:1/postgres\)") as error:
        cleanup(unreachable)

    assert len(error.value.report.errors) == 1
    assert len(error.value.report.streams) == 3
    assert pipeline_keys(redis_client, spec.name) == []
