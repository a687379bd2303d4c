"""Two pipelines on one table: every change reaches both, and neither disturbs the other.

The same pipeline name in two namespaces (two identities), one into Neo4j and one
into FalkorDB, capture the same tables through one engine schema while writers
commit from several connections. Each target must end equal to PostgreSQL, entity
by entity; restarting, dead-letter replay and cleanup of one leave the other whole;
and the excluded `secret` column never leaves PostgreSQL.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import neo4j
import psycopg
import pytest
import redis
from psycopg import sql

from graphsync import capture
from graphsync.cleanup import cleanup
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.connectors.postgres.outbox import Outbox, trigger_name
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import postgres as pg_server
from graphsync_dev import sample
from graphsync_dev.service import Service
from tests import shop, workload
from tests.conftest import unique_name

pytestmark = pytest.mark.integration

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


def test_two_pipelines_on_one_table_each_get_every_change_and_leave_each_other_alone(
    pipelines: Pipelines,
    pg_conn: Conn,
    schema: str,
    postgres_service: Service,
    neo4j_driver: neo4j.Driver,
    falkordb_target: falkor_graph.Graph,
    redis_client: redis.Redis,
) -> None:
    a, b = pipelines.specs["a"], pipelines.specs["b"]
    assert a.name == b.name
    assert a.identity != b.identity
    capture.prepare_source(a)
    capture.prepare_source(b)
    triggers = trigger_oids(pg_conn, schema)
    assert sorted(triggers) == sorted([trigger_name(a.identity), trigger_name(b.identity)])
    assert all(len(oids) == 4 for oids in triggers.values())
    sample.seed(pg_conn, schema, customers=30)

    pipelines.start("a")
    pipelines.start("b")
    write_concurrently(postgres_service, schema, 1000, seed=1)
    # Restarting `a` installs a's triggers again (in a transaction, so no change is missed), never b's.
    running = trigger_oids(pg_conn, schema)
    pipelines.stop("a")
    pipelines.start("a")
    write_concurrently(postgres_service, schema, 1000, seed=2)
    after_restart = trigger_oids(pg_conn, schema)
    assert after_restart[trigger_name(b.identity)] == running[trigger_name(b.identity)]
    assert {owner for _, owner in after_restart[trigger_name(a.identity)]} == {a.identity}
    assert {owner for _, owner in after_restart[trigger_name(b.identity)]} == {b.identity}
    pipelines.stop_all()
    # A change to the excluded column alone is no event for anyone.
    before = outbox_by_pipeline(pg_conn, schema)
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET secret = 'other'").format(sql.Identifier(schema)))
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET secret = %s").format(sql.Identifier(schema)), (SECRET,))
    assert outbox_by_pipeline(pg_conn, schema) == before
    pipelines.settle("a")
    pipelines.settle("b")

    expected = shop.expected(pg_conn, schema)
    # The random workload inserts and deletes customers alike: their number may end where it began; that the
    # writes happened is in the outbox counts below.
    assert expected["nodes"][shop.CUSTOMER]
    assert shop.actual(neo4j_driver) == expected
    assert shop.actual_falkordb(falkordb_target) == expected
    counts = outbox_by_pipeline(pg_conn, schema)
    assert set(counts) == {a.identity, b.identity}
    # Each trigger wrote one event per change, for its own pipeline.
    assert counts[a.identity] == counts[b.identity] > 2000
    assert_no_secret_in_postgres(pg_conn, schema)
    assert assert_no_secret_in_redis(redis_client, a) > 0
    assert assert_no_secret_in_redis(redis_client, b) > 0


def test_dead_letters_replay_into_their_own_pipeline_and_cleanup_of_one_leaves_the_other_syncing(
    pipelines: Pipelines,
    pg_conn: Conn,
    schema: str,
    neo4j_driver: neo4j.Driver,
    falkordb_target: falkor_graph.Graph,
    redis_client: redis.Redis,
) -> None:
    a, b = pipelines.specs["a"], pipelines.specs["b"]
    s = sql.Identifier(schema)
    capture.prepare_source(a)
    capture.prepare_source(b)
    sample.seed(pg_conn, schema, customers=10)
    # A map is no graph property: a poison record for both pipelines, whose secret must not follow it.
    pg_conn.execute(sql.SQL("ALTER TABLE {}.customer ADD COLUMN prefs jsonb").format(s))
    pg_conn.execute(
        sql.SQL("INSERT INTO {}.customer VALUES (99, 'poison', NULL, NULL, %s, %s)").format(s),
        (SECRET, json.dumps({"theme": "dark"})),
    )
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET name = name || '!' WHERE id <= 10").format(s))
    pipelines.settle("a")
    pipelines.settle("b")
    letters = {
        which: PostgresDeadLetters(pg_conn, pipeline=spec.identity, schema=schema)
        for which, spec in pipelines.specs.items()
    }
    for store in letters.values():
        [letter] = store.list()
        assert letter.entity_key == 99
        assert "is a map" in letter.reason
        assert "secret" not in letter.payload
    assert_no_secret_in_postgres(pg_conn, schema)

    # Replaying a's letter puts an event into a's outbox alone; b's letter stays open, b gets nothing.
    before = outbox_by_pipeline(pg_conn, schema)
    assert letters["a"].replay() == 1
    after = outbox_by_pipeline(pg_conn, schema)
    assert after == {**before, a.identity: before[a.identity] + 1}
    pipelines.settle("a")
    pipelines.settle("b")
    assert letters["a"].count() == 1  # still poison: dead-lettered again, by a alone
    assert len(letters["a"].list(include_replayed=True)) == 2
    assert [letter.id for letter in letters["b"].list(include_replayed=True)] == [letters["b"].list()[0].id]

    # Cleanup of `a` while `b` runs: a's triggers, rows and streams go; b's stay and b goes on syncing.
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET prefs = NULL").format(s))
    pipelines.start("b")
    report = cleanup(a)
    assert report.errors == []
    assert sorted(report.triggers) == sorted(f"{schema}.{t}" for t in ("customer", "product", "orders", "likes"))
    assert report.schema is None
    assert any(b.identity in kept for kept in report.kept)
    assert sorted(trigger_oids(pg_conn, schema)) == [trigger_name(b.identity)]
    assert a.identity not in outbox_by_pipeline(pg_conn, schema)
    assert letters["a"].list(include_replayed=True) == []
    assert len(letters["b"].list(include_replayed=True)) == 1
    assert list(redis_client.scan_iter(match=f"graphsync:{a.identity}:*")) == []
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET tier = 'after cleanup' WHERE id <= 5").format(s))
    pg_conn.execute(sql.SQL("DELETE FROM {}.customer WHERE id = 10").format(s))
    pg_conn.execute(sql.SQL("INSERT INTO {}.customer VALUES (11, 'new', NULL, NULL, %s, NULL)").format(s), (SECRET,))
    pipelines.stop("b")
    pipelines.settle("b")
    expected = shop.expected(pg_conn, schema)
    for nodes in expected["nodes"].values():
        for node in nodes.values():
            node.pop("prefs", None)
    assert shop.actual_falkordb(falkordb_target) == expected
    assert_no_secret_in_postgres(pg_conn, schema)
    assert assert_no_secret_in_redis(redis_client, b) > 0


def test_events_of_no_pipeline_from_an_older_outbox_or_the_application_reach_every_pipeline_once(
    pipelines: Pipelines,
    pg_conn: Conn,
    schema: str,
    neo4j_driver: neo4j.Driver,
    falkordb_target: falkor_graph.Graph,
    redis_client: redis.Redis,
) -> None:
    a, b = pipelines.specs["a"], pipelines.specs["b"]
    s = sql.Identifier(schema)
    # The engine's tables as the release before per-pipeline capture left them, with its one trigger per table.
    pg_schema.migrate(pg_conn, schema)
    for statement in LEGACY:
        pg_conn.execute(sql.SQL(statement).format(s=s))
    for table, key in (
        ("customer", "'id'"),
        ("product", "'id'"),
        ("orders", "'id'"),
        ("likes", "'customer_id', 'product_id'"),
    ):
        pg_conn.execute(
            sql.SQL(
                "CREATE TRIGGER graphsync_capture AFTER INSERT OR UPDATE OR DELETE ON {s}.{t}"
                " FOR EACH ROW EXECUTE FUNCTION {s}.capture({args})"
            ).format(s=s, t=sql.Identifier(table), args=sql.SQL(f"'{table}', {key}"))
        )
    sample.seed(pg_conn, schema, customers=10)
    pending = pg_conn.execute(sql.SQL("SELECT count(*) FROM {s}.outbox").format(s=s)).fetchone()
    assert pending is not None
    assert pending[0] > 40

    capture.prepare_source(a)  # migrates, and takes the tables over from the legacy triggers
    assert sorted(trigger_oids(pg_conn, schema)) == [trigger_name(a.identity)]
    capture.prepare_source(b)
    assert sorted(trigger_oids(pg_conn, schema)) == sorted([trigger_name(a.identity), trigger_name(b.identity)])
    # An application publishes once, not knowing the pipelines, and more than the mapping takes.
    row = pg_conn.execute(sql.SQL("SELECT to_jsonb(c) FROM {s}.customer AS c WHERE id = 5").format(s=s)).fetchone()
    assert row is not None
    assert row[0]["secret"] == SECRET
    Outbox(schema).publish(
        pg_conn, entity_type="customer", entity_id=5, operation="upsert", payload=row[0], correlation_id="app-1"
    )
    # The events of no pipeline go to every pipeline subscribed when a relay first takes them: here both.
    pipelines.settle("a")
    pipelines.settle("b")
    pg_schema.migrate(pg_conn, schema)  # idempotent

    expected = shop.expected(pg_conn, schema)
    assert shop.actual(neo4j_driver) == expected
    assert shop.actual_falkordb(falkordb_target) == expected
    counts = outbox_by_pipeline(pg_conn, schema)
    assert None not in counts
    assert counts[a.identity] == counts[b.identity] == pending[0] + 1
    published = sql.SQL("SELECT pipeline FROM {s}.outbox WHERE correlation_id = 'app-1' ORDER BY 1").format(s=s)
    assert [r[0] for r in pg_conn.execute(published)] == sorted([a.identity, b.identity])
    assert_no_secret_in_redis(redis_client, a)
    assert_no_secret_in_redis(redis_client, b)
    primary_key = pg_conn.execute(
        "SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f'"{schema}".entity_status',),
    ).fetchone()
    assert primary_key == (["entity_key", "entity_type", "pipeline"],)


# What the engine's outbox and entity status looked like before they recorded pipelines.
LEGACY = (
    "DROP TABLE {s}.outbox_subscriber",
    "ALTER TABLE {s}.outbox DROP COLUMN pipeline",
    "CREATE INDEX outbox_open ON {s}.outbox (status, id) WHERE status IN ('pending', 'published')",
    "ALTER TABLE {s}.entity_status DROP CONSTRAINT entity_status_pkey",
    "ALTER TABLE {s}.entity_status DROP COLUMN pipeline",
    "ALTER TABLE {s}.entity_status ADD PRIMARY KEY (entity_type, entity_key)",
)
