"""The fan-out tests' set-up: two pipelines of one name in two namespaces on one table, and the writers and
checks they share."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import postgres as pg_server
from graphsync_dev.service import Service
from tests import shop, workload
from tests.conftest import unique_name

Conn = psycopg.Connection[Any]
WRITERS = 3
SECRET = "pw"  # what the workload and the sample write into customer.secret


class Pipelines:
    """Pipeline `a` (into Neo4j) and `b` (into FalkorDB), each runnable in a thread of its own."""

    def __init__(self, a: PipelineSpec, b: PipelineSpec) -> None:
        self.specs = {"a": a, "b": b}
        self._running: dict[str, tuple[threading.Event, threading.Thread]] = {}

    def start(self, which: str) -> None:
        stop = threading.Event()
        spec = self.specs[which]
        thread = threading.Thread(target=run.run, args=(spec, RunControl(stop=stop)), daemon=True)
        thread.start()
        self._running[which] = (stop, thread)

    def stop(self, which: str) -> None:
        stop, thread = self._running.pop(which)
        stop.set()
        thread.join(timeout=120)
        assert not thread.is_alive()

    def stop_all(self) -> None:
        for which in list(self._running):
            self.stop(which)

    def settle(self, which: str) -> None:
        run.run(self.specs[which], RunControl(stop=threading.Event(), until_idle=True))


@pytest.fixture
def schema(pg_conn: Conn) -> str:
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    shop.create(pg_conn, row[0])
    return str(row[0])


@pytest.fixture
def pipelines(
    schema: str,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    falkordb_service: Service,
    graph_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Pipelines]:
    monkeypatch.setenv("GRAPHSYNC_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    pg = postgres_service.env
    name = unique_name("shop").replace("_", "-")
    targets = {
        "a": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
        "b": {"falkordb": {"url": falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], "graph": graph_name}},
    }
    specs = {
        namespace: PipelineSpec.model_validate(
            {
                "name": name,
                "namespace": namespace,
                "source": {
                    "postgres": {
                        "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                        "password": {"env": "GRAPHSYNC_PG_PASSWORD"},
                        # One engine schema for both (the default `graphsync` would be shared between tests).
                        "schema": schema,
                    }
                },
                "transport": {
                    "redisStreams": {
                        "url": redis_service.env["GRAPHSYNC_REDIS_URL"],
                        "partitions": 3,
                        "claimIdleSeconds": 1,
                        "redeliverAfterSeconds": 5,
                    }
                },
                "target": target,
                "mappings": shop.mappings(schema),
                "batchSize": 200,
            }
        )
        for namespace, target in targets.items()
    }
    made = Pipelines(specs["a"], specs["b"])
    yield made
    made.stop_all()


@pytest.fixture
def falkordb_target(falkordb_service: Service, graph_name: str) -> Iterator[falkor_graph.Graph]:
    graph = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    yield graph
    graph.close()


def write_concurrently(postgres_service: Service, schema: str, changes: int, seed: int) -> None:
    """`WRITERS` connections committing the workload at once; a transaction PostgreSQL aborts as a deadlock
    is simply not made (the application would retry it), every committed one must be synced."""
    dsn = pg_server.dsn(postgres_service.env)

    def write(writer: int) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for round_ in range(changes // 100):
                try:
                    workload.run(conn, schema, 100, seed=seed * 1000 + writer * 100 + round_, per_transaction=10)
                except (psycopg.errors.DeadlockDetected, psycopg.errors.IntegrityError):
                    # Another writer deleted a row this transaction referenced, or they locked in opposite orders.
                    continue

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)


def trigger_oids(conn: Conn, schema: str) -> dict[str, list[tuple[int, str]]]:
    """Capture triggers by name: per table, the trigger's oid and the pipeline its first argument names."""
    rows = conn.execute(
        "SELECT t.tgname, t.oid, split_part(encode(t.tgargs, 'escape'), '\\000', 1)"
        " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND t.tgname LIKE 'graphsync\\_capture%%' ORDER BY t.tgname, c.relname",
        (schema,),
    )
    found: dict[str, list[tuple[int, str]]] = {}
    for name, oid, owner in rows:
        found.setdefault(str(name), []).append((int(oid), str(owner)))
    return found


def outbox_by_pipeline(conn: Conn, schema: str) -> dict[str | None, int]:
    query = sql.SQL("SELECT pipeline, count(*) FROM {}.outbox GROUP BY pipeline").format(sql.Identifier(schema))
    return {row[0]: int(row[1]) for row in conn.execute(query)}


def assert_no_secret_in_postgres(conn: Conn, schema: str) -> None:
    for table, column in (("outbox", "payload"), ("dead_letter", "payload")):
        query = sql.SQL("SELECT count(*) FROM {}.{} WHERE {} ? 'secret' OR {}::text LIKE %s").format(
            sql.Identifier(schema), sql.Identifier(table), sql.Identifier(column), sql.Identifier(column)
        )
        row = conn.execute(query, (f'%"{SECRET}"%',)).fetchone()
        assert row == (0,), f"{table}.{column} holds the excluded column"


def assert_no_secret_in_redis(client: redis.Redis, spec: PipelineSpec) -> int:
    """Every entry of the pipeline's streams (acknowledged ones stay until trimmed); returns how many."""
    seen = 0
    for stream in client.scan_iter(match=f"graphsync:{spec.identity}:*", _type="stream"):
        entries = client.xrange(stream)
        assert entries is not None  # the client's types allow None for a missing key; the scan just found it
        for _, fields in entries:
            assert fields is not None  # the shared entry type allows an entry without fields (trimmed under XCLAIM)
            seen += 1
            data = json.loads(fields["data"])
            assert "secret" not in data
            assert SECRET not in data.values()
    return seen
