"""PostgreSQL -> (outbox, Redis Streams) -> Neo4j, end to end on the real servers."""

from __future__ import annotations

import argparse
import random
import threading
from typing import Any

import neo4j
import psycopg
import pytest

from graphsync import capture
from graphsync.change import Change, Operation
from graphsync.commands import deadletter
from graphsync.connectors.neo4j.sink import Neo4jSink
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.connectors.postgres.outbox import EventStatus, Outbox
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import sample
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import unique_name

Conn = psycopg.Connection[Any]


@pytest.fixture
def schema(pg_conn: Conn) -> str:
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    shop.create(pg_conn, row[0])
    return str(row[0])


@pytest.fixture
def make_spec(
    schema: str,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> Any:
    monkeypatch.setenv("TEST_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    pg = postgres_service.env
    name = unique_name("p").replace("_", "-")

    def build(capture: str = "triggers", **overrides: Any) -> PipelineSpec:
        document: dict[str, Any] = {
            "name": name,
            "source": {
                "postgres": {
                    "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                    "password": {"env": "TEST_PG_PASSWORD"},
                    "schema": schema,
                    "capture": capture,
                }
            },
            "transport": {"redisStreams": {"url": redis_service.env["GRAPHSYNC_REDIS_URL"], "partitions": 3}},
            "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
            "mappings": shop.mappings(schema),
            "batchSize": 100,
        }
        return PipelineSpec.model_validate({**document, **overrides})

    return build


def sync(spec: PipelineSpec, **control: Any) -> RunStats:
    return run.run(spec, RunControl(stop=threading.Event(), until_idle=True, **control))


def seed(conn: Conn, schema: str, customers: int = 20) -> None:
    sample.seed(conn, schema, customers)
    conn.execute(f"SET search_path TO {schema}")


def test_changes_flow_through_triggers_outbox_and_streams_into_neo4j(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = make_spec()
    capture.prepare_source(spec)
    seed(pg_conn, schema)
    pg_conn.execute("UPDATE customer SET tier = 'gold', secret = 'changed' WHERE id <= 5")
    pg_conn.execute("UPDATE orders SET customer_id = 3 WHERE id = 1")
    pg_conn.execute("DELETE FROM customer WHERE id = 20")  # cascades to its orders and likes
    pg_conn.execute("DELETE FROM likes WHERE product_id = 19")
    pg_conn.execute("UPDATE product SET id = 100 WHERE id = 19")  # a key change: delete + create
    pg_conn.execute("DELETE FROM likes WHERE customer_id = 4")

    stats = sync(spec)

    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    assert stats.failed == 0
    counts = Outbox(schema).counts(pg_conn)
    assert counts[EventStatus.PENDING] == counts[EventStatus.PUBLISHED] == counts[EventStatus.FAILED] == 0
    assert counts[EventStatus.COMPLETED] > 100
    status = Outbox(schema).entity_status(pg_conn, entity_type="customer", entity_id=1)
    assert status is not None
    assert status.status == "synced"
    # The secret column is excluded: changing only it still syncs nothing secret.
    records, _, _ = neo4j_driver.execute_query("MATCH (c:Customer {id: 1}) RETURN c.secret AS secret, c.tier AS tier")
    assert records[0]["secret"] is None
    assert records[0]["tier"] == "gold"


def test_duplicated_and_reordered_delivery_converges(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = make_spec()
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=30)
    for round_ in range(3):
        pg_conn.execute("UPDATE customer SET name = name || %s WHERE id %% 3 = %s", (f"+{round_}", round_))
        pg_conn.execute("UPDATE orders SET customer_id = (customer_id %% 30) + 1 WHERE id %% 4 = %s", (round_,))
        pg_conn.execute("DELETE FROM likes WHERE stars = %s", (round_ + 1,))
    pg_conn.execute("DELETE FROM customer WHERE id IN (7, 8)")
    events = Outbox(schema).events(pg_conn, limit=100_000)
    changes = [
        Change(entity=e.entity_type, key=e.entity_key, op=e.operation, version=e.version, data=e.payload)
        for e in events
    ]
    delivery = changes + random.Random(7).sample(changes, len(changes) // 2)  # every change, half of them twice
    random.Random(11).shuffle(delivery)

    sink = Neo4jSink(neo4j.GraphDatabase.driver(spec.neo4j.uri), Mappings.model_validate(shop.mappings(schema)))
    sink.prepare()
    try:
        for start in range(0, len(delivery), 37):
            sink.apply(delivery[start : start + 37])
    finally:
        sink.close()

    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)


def test_a_poison_event_is_dead_lettered_and_the_pipeline_goes_on(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = make_spec(capture="outbox")
    capture.prepare_source(spec)
    outbox = Outbox(schema)
    with pg_conn.transaction():
        outbox.publish(
            pg_conn, entity_type="customer", entity_id=1, operation="upsert", payload={"id": 1, "name": "Ada"}
        )
        outbox.publish(
            pg_conn,
            entity_type="customer",
            entity_id=2,
            operation=Operation.UPSERT,
            payload={"id": 2, "name": "Bad", "address": {"city": "Oslo"}},
            correlation_id="req-42",
        )
        outbox.publish(
            pg_conn, entity_type="customer", entity_id=3, operation="upsert", payload={"id": 3, "name": "Cy"}
        )

    stats = sync(spec)

    records, _, _ = neo4j_driver.execute_query("MATCH (c:Customer) RETURN c.id AS id ORDER BY id")
    assert [r["id"] for r in records] == [1, 3]
    assert stats.failed == 1
    [letter] = PostgresDeadLetters(pg_conn, pipeline=spec.name, schema=schema).list()
    assert letter.entity_key == 2
    assert "property 'address' is a map" in letter.reason
    [failed] = outbox.events(pg_conn, status=EventStatus.FAILED)
    assert failed.entity_key == 2
    assert "address" in (failed.last_error or "")
    status = outbox.entity_status(pg_conn, entity_type="customer", entity_id=2)
    assert status is not None
    assert status.status == "failed"


def test_a_snapshot_sweep_keeps_a_row_whose_update_the_target_refused(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    """The refused update is dead-lettered; the row is still in the source, so the sweep that follows the
    snapshot must not delete it from the target (it keeps its last written state until the letter is replayed)."""
    seed(pg_conn, schema, customers=10)
    pg_conn.execute("ALTER TABLE customer ADD COLUMN prefs jsonb")
    spec = make_spec(mode="snapshot", transport=None)
    sync(spec)
    # A map is no graph property: this update is refused.
    pg_conn.execute("""UPDATE customer SET prefs = '{"theme": "dark"}', name = 'refused' WHERE id = 5""")
    stats = sync(spec)
    assert stats.failed == 1
    [letter] = PostgresDeadLetters(pg_conn, pipeline=spec.identity, schema=schema).list()
    assert (letter.entity_type, letter.entity_key) == ("customer", 5)
    [[name]] = neo4j_driver.execute_query("MATCH (c:Customer {id: 5}) RETURN c.name").records
    assert name == "name 5"
    [[count]] = neo4j_driver.execute_query("MATCH (c:Customer) RETURN count(c)").records
    assert count == 10


def test_dead_letters_of_a_snapshot_pipeline_are_replayed_through_its_sink(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    """A snapshot pipeline reads no outbox: a replay sent there would wait for ever. It is applied through the
    pipeline's sink, and only what the target takes is marked replayed."""
    seed(pg_conn, schema, customers=10)
    spec = make_spec(mode="snapshot", transport=None)
    sync(spec)
    constraint = f"unique_email_{schema}"
    neo4j_driver.execute_query(f"CREATE CONSTRAINT {constraint} FOR (c:Customer) REQUIRE c.email IS UNIQUE")
    try:
        # The target refuses customer 6's update (its email is customer 5's): dead-lettered.
        pg_conn.execute("UPDATE customer SET email = 'c5@x.io', name = 'six' WHERE id = 6")
        assert sync(spec).failed == 1
        letters = PostgresDeadLetters(pg_conn, pipeline=spec.identity, schema=schema)
        replay = argparse.Namespace(dlq_command="replay", ids=None)
        assert deadletter.act(spec, replay) == 1  # refused again while the constraint holds
        assert letters.count() == 1
    finally:
        neo4j_driver.execute_query(f"DROP CONSTRAINT {constraint}")
    assert deadletter.act(spec, replay) == 0
    assert letters.count() == 0
    [[name, email]] = neo4j_driver.execute_query("MATCH (c:Customer {id: 6}) RETURN c.name, c.email").records
    assert (name, email) == ("six", "c5@x.io")
