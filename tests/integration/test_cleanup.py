"""`graphsync cleanup` on the real servers: what a pipeline created outside Kubernetes goes, the data it synced stays.

Each test runs a real pipeline first, so what the cleanup finds is what the engine
made: capture triggers, the engine's schema, streams and consumer groups, state
keys, tombstones, version marks, reconciliation records.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
import redis
import yaml
from psycopg import sql

from graphsync import cli, run
from graphsync.change import Change, Operation
from graphsync.cleanup import CleanupError, cleanup
from graphsync.connectors import streams
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.redisstate import RedisCheckpoints
from graphsync.devenv import sample
from graphsync.devenv.service import Service
from graphsync.pipeline.control import RunControl
from graphsync.pipeline.stats import RunStats
from graphsync.reconcile.pipeline import reconcile
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from tests import graphs, repos, shop
from tests.conftest import unique_name
from tests.integration.test_worker import free_port

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
OPERATOR = str(Path(sys.executable).parent / "graphsync-operator")
TABLES = ("customer", "product", "orders", "likes")


def sync(spec: PipelineSpec) -> RunStats:
    stats = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert stats.failed == 0, stats.summary()
    return stats


def audit(spec: PipelineSpec) -> None:
    """One reconciliation run, so its record is there to be removed."""
    reconcile(spec, ReconcileSpec(), threading.Event())


def pipeline_keys(client: redis.Redis, name: str) -> list[str]:
    return sorted(str(key) for key in client.scan_iter(match=f"graphsync:{name}:*"))


def other_pipeline(client: redis.Redis, name: str) -> Iterator[list[str]]:
    """Streams with their consumer group and a checkpoint of another pipeline, whose name starts with `name`."""
    other = f"{name}2"
    made = streams.Streams(prefix=f"graphsync:{other}", partitions=2)
    streams.GroupReader(client, made, group=f"graphsync-{other}", consumer="c", claim_idle_ms=1000).ensure_groups()
    streams.publish(client, made, [Change("customer", 1, Operation.UPSERT, 1, {"id": 1})], max_length=1000)
    RedisCheckpoints(client, pipeline=other).put("snapshot", {"completed": True})
    keys = pipeline_keys(client, other)
    assert len(keys) == 3
    yield keys
    client.delete(*keys)


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
        " WHERE n.nspname = %s AND t.tgname = 'graphsync_capture' ORDER BY c.relname",
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
    """Tombstones, reconciliation records and the version marks of synced entities."""

    def value(query: str) -> Any:
        return driver.execute_query(query).records[0][0]

    return {
        "tombstones": value("MATCH (t:GraphsyncTombstone) RETURN count(t)"),
        "audit": value("MATCH (r:GraphsyncReconciliation) RETURN count(r)"),
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
    # Outbox ids, which start again at 1 once the schema is gone: customer 1 holds one above 20.
    assert max(before["node versions"]) > 20
    kept_constraints = constraints(neo4j_driver)
    rows = source_rows(pg_conn, shop_schema)

    report = cleanup(spec)

    assert sorted(report.triggers) == sorted(f"{shop_schema}.{table}" for table in TABLES)
    assert report.schema == engine_schema
    assert len(report.schema_objects) == 8
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
    run.prepare_source(spec)
    sample.seed(pg_conn, shop_schema, customers=5)
    sync(spec)
    assert len(relations(pg_conn, shop_schema)) == len(TABLES) + 6
    rows = source_rows(pg_conn, shop_schema)

    report = cleanup(spec)

    assert report.schema is None
    assert sorted(report.schema_objects) == sorted(
        [f"{shop_schema}.{t}" for t in ("outbox", "entity_status", "dead_letter", "checkpoint", "ledger", "conflict")]
        + [f"{shop_schema}.capture()", f"{shop_schema}.entity_key()"]
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


# --- Neo4j -> FalkorDB ----------------------------------------------------------------------------------------


@pytest.fixture
def target(falkordb_service: Service, graph_name: str) -> Iterator[Graph]:
    made = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    yield made
    made.close()


@pytest.fixture
def graph_document(neo4j_service: Service, falkordb_service: Service, graph_name: str) -> dict[str, Any]:
    return {
        "name": unique_name("g").replace("_", "-"),
        "source": {
            "neo4j": {
                "uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"],
                "reading": {"watermarkProperty": "updated_at", "deleteScanIntervalSeconds": 0.01},
            }
        },
        "target": {"falkordb": {"url": falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], "graph": graph_name}},
        "mappings": graphs.MAPPINGS,
        "mode": "snapshot",
        "batchSize": 500,
    }


@pytest.fixture
def graph_others(falkordb_client: redis.Redis, graph_document: dict[str, Any]) -> Iterator[list[str]]:
    yield from other_pipeline(falkordb_client, graph_document["name"])


@pytest.fixture
def leftovers(falkordb_client: redis.Redis, graph_name: str) -> Iterator[None]:
    yield
    for suffix in ("__graphsync_audit", "__graphsync_build"):
        if falkordb_client.exists(graph_name + suffix):
            falkordb_client.execute_command("GRAPH.DELETE", graph_name + suffix)  # type: ignore[no-untyped-call]


def falkor_bookkeeping(graph: Graph) -> dict[str, Any]:
    [[tombstones]] = graph.read("MATCH (t:GraphsyncTombstone) RETURN count(t)")
    [[nodes]] = graph.read("MATCH (n) WHERE n._graphsync_version IS NOT NULL RETURN collect(n._graphsync_version)")
    [[rels]] = graph.read(
        "MATCH ()-[r]->() WHERE r._graphsync_version IS NOT NULL RETURN collect(r._graphsync_version)"
    )
    return {"tombstones": tombstones, "node versions": sorted(set(nodes)), "relationship versions": sorted(set(rels))}


def test_a_graph_pipelines_state_keys_go_through_the_worker_and_the_synced_graph_stays(
    graph_document: dict[str, Any],
    neo4j_driver: neo4j.Driver,
    target: Graph,
    falkordb_client: redis.Redis,
    graph_others: list[str],
    leftovers: None,
    tmp_path: Path,
) -> None:
    graphs.build(neo4j_driver.execute_query, people=300, companies=5, knows_per_person=2)
    spec = PipelineSpec.model_validate(graph_document)
    sync(spec)
    neo4j_driver.execute_query("MATCH (p:Person) WHERE p.id % 10 = 3 DETACH DELETE p")
    neo4j_driver.execute_query("MATCH (p:Person) WHERE p.id % 10 = 4 SET p.name = 'edited', p.updated_at = 10000")
    incremental = PipelineSpec.model_validate({**graph_document, "mode": "incremental"})
    sync(incremental)
    audit(spec)
    # A rebuild that never finished leaves the graph it was building.
    build = falkor_graph.connect(graph_document["target"]["falkordb"]["url"], f"{target.name}__graphsync_build")
    build.write("CREATE (:Person {id: 1})")
    build.close()
    synced = graphs.snapshot(target.read)
    assert synced == graphs.snapshot(Neo4jReader(neo4j_driver).read)
    name = spec.name
    assert pipeline_keys(falkordb_client, name) == [f"graphsync:{name}:checkpoint"]
    assert falkor_bookkeeping(target)["tombstones"] > 0

    spec_file = tmp_path / "pipeline.yaml"
    spec_file.write_text(yaml.safe_dump(graph_document))
    env = {**os.environ, "GRAPHSYNC_HTTP_PORT": str(free_port())}
    env.pop("GRAPHSYNC_LEASE", None)
    done = subprocess.run(
        [OPERATOR, "worker", "cleanup", "-f", str(spec_file)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"graphsync:{name}:checkpoint" in done.stdout
    assert f"{target.name}__graphsync_build" in done.stdout
    assert "-> finished" in done.stderr
    assert pipeline_keys(falkordb_client, name) == []
    assert pipeline_keys(falkordb_client, f"{name}2") == graph_others
    assert not falkordb_client.exists(f"{target.name}__graphsync_build")
    assert not falkordb_client.exists(f"{target.name}__graphsync_audit")
    assert graphs.snapshot(target.read) == synced
    assert falkor_bookkeeping(target) == {"tombstones": 0, "node versions": [-1], "relationship versions": [-1]}
    assert not cleanup(spec).removed

    # Created again, a snapshot brings everything, and so do increments after it.
    sync(spec)
    neo4j_driver.execute_query("MATCH (p:Person) WHERE p.id % 10 = 5 SET p.name = 'again', p.updated_at = 20000")
    sync(incremental)
    assert graphs.snapshot(target.read) == graphs.snapshot(Neo4jReader(neo4j_driver).read)


# --- Files -> Neo4j -------------------------------------------------------------------------------------------


def test_a_files_pipeline_loses_its_checkpoint_and_mirror_and_keeps_its_documents(
    tmp_path: Path, neo4j_service: Service, neo4j_driver: neo4j.Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHSYNC_CACHE_DIR", str(tmp_path / "cache"))
    repo = tmp_path / "docs"
    repos.init(repo)
    corpus = repos.generate(6)
    repos.commit(repo, corpus, "documents")
    spec = PipelineSpec.model_validate(
        {
            "name": unique_name("f").replace("_", "-"),
            "source": {"files": {"git": {"url": f"file://{repo}", "ref": "main"}}},
            "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
            "mode": "incremental",
        }
    )
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    read = Neo4jReader(neo4j_driver).read

    def graph() -> Any:
        return repos.actual(read)

    synced = graph()
    [[documents]] = read("MATCH (d:GraphsyncDocument) RETURN count(d)")
    assert documents == 6
    mirrors = list((tmp_path / "cache" / "repositories").iterdir())
    assert len(mirrors) == 1

    report = cleanup(spec)

    assert report.checkpoints == 1
    assert report.cache == [str(mirrors[0])]
    assert not mirrors[0].exists()
    assert read("MATCH (c:GraphsyncCheckpoint) RETURN count(c)") == [[0]]
    assert read("MATCH (d:GraphsyncDocument) RETURN count(d)") == [[documents]]
    assert graph() == synced
    assert not cleanup(spec).removed
