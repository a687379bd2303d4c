"""The conformance suite every source passes: at-least-once delivery around its checkpoint.

- what was committed is not delivered again after a restart;
- what was read but not committed is delivered again after a restart;
- a source with nothing new returns an idle batch.
A new source joins by adding a factory to `SOURCES`: it loads 30 customers and
returns a function that opens the source fresh (as a restarted worker would).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
import redis

from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.consumer import OutboxStreamSource
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.relay import Relay
from graphsync.connectors.postgres.tables import SnapshotSource
from graphsync.connectors.postgres.watermark import WatermarkSource
from graphsync.connectors.redis import streams
from graphsync.runner.contracts import Batch, Source
from graphsync.spec.mapping import Mappings
from graphsync_dev import postgres as pg_server
from graphsync_dev import sample
from graphsync_dev.service import Service
from tests.conftest import unique_name

Conn = psycopg.Connection[Any]
Opener = Callable[[], Source]


def customers_only(schema: str) -> Mappings:
    return Mappings.model_validate({"nodes": [sample.mappings(schema)["nodes"][0]]})


def snapshot_factory(conn: Conn, schema: str, services: dict[str, Any]) -> Opener:
    dsn = pg_server.dsn(services["postgres"].env)
    pg_schema.migrate(conn, schema)
    sample.seed(conn, schema, customers=30)

    def open_source() -> Source:
        checkpoints = PostgresCheckpoints(services["connect"](dsn), pipeline="conf", schema=schema)
        return SnapshotSource(services["connect"](dsn), customers_only(schema), checkpoints, version=1)

    return open_source


def watermark_factory(conn: Conn, schema: str, services: dict[str, Any]) -> Opener:
    dsn = pg_server.dsn(services["postgres"].env)
    pg_schema.migrate(conn, schema)
    sample.seed(conn, schema, customers=30)
    conn.execute("ALTER TABLE customer ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY")

    def open_source() -> Source:
        checkpoints = PostgresCheckpoints(services["connect"](dsn), pipeline="conf", schema=schema)
        return WatermarkSource(services["connect"](dsn), customers_only(schema), checkpoints, column="seq")

    return open_source


def outbox_stream_factory(conn: Conn, schema: str, services: dict[str, Any]) -> Opener:
    dsn = pg_server.dsn(services["postgres"].env)
    url = services["redis"].env["GRAPHSYNC_REDIS_URL"]
    pg_schema.migrate(conn, schema)
    outbox = Outbox(schema, pipeline="conf")
    outbox.install_capture(conn, table=f"{schema}.customer", entity_type="customer", key_columns=["id"])
    sample.seed(conn, schema, customers=30)
    target = streams.Streams(prefix=unique_name("conf"), partitions=2)
    with psycopg.connect(dsn) as relay_conn, redis.Redis.from_url(url, decode_responses=True) as client:
        Relay(relay_conn, client, target, pipeline="conf", schema=schema).run_once(limit=1000)

    def open_source() -> Source:
        client = services["redis_client"](url)
        # The same consumer name after a restart, with instant reclaim, as a restarted pod.
        reader = streams.GroupReader(client, target, group="conf", consumer="worker-0", claim_idle_ms=0)
        return OutboxStreamSource(reader, services["connect"](dsn), outbox, block_ms=50)

    return open_source


SOURCES = {"snapshot": snapshot_factory, "watermark": watermark_factory, "outbox-stream": outbox_stream_factory}


@pytest.fixture(params=sorted(SOURCES))
def open_source(
    request: pytest.FixtureRequest, pg_conn: Conn, postgres_service: Service, redis_service: Service
) -> Iterator[Opener]:
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    sample.create(pg_conn, row[0])
    opened: list[Source] = []
    connections: list[Conn] = []
    clients: list[redis.Redis] = []

    def connect(dsn: str) -> Conn:
        connections.append(psycopg.connect(dsn, autocommit=True))
        return connections[-1]

    def redis_client(url: str) -> redis.Redis:
        clients.append(redis.Redis.from_url(url, decode_responses=True))
        return clients[-1]

    services = {"postgres": postgres_service, "redis": redis_service, "connect": connect, "redis_client": redis_client}
    factory = SOURCES[request.param](pg_conn, row[0], services)

    def reopen() -> Source:
        source = factory()
        source.prepare()
        opened.append(source)
        return source

    yield reopen
    for source in opened:
        source.close()
    for connection in connections:
        connection.close()
    for client in clients:
        client.close()


def read_keys(source: Source, limit: int) -> tuple[Batch, list[Any]]:
    batch = source.read(limit)
    return batch, [change.key for change in batch.changes]


def drain(source: Source) -> set[Any]:
    keys: set[Any] = set()
    for _ in range(100):
        batch = source.read(10)
        if batch.idle or (batch.final and not batch.changes):
            break
        keys.update(change.key for change in batch.changes)
        source.commit(batch, [])
        if batch.final:
            break
    return keys


def test_committed_items_are_not_delivered_again_after_a_restart(open_source: Opener) -> None:
    first = open_source()
    batch, keys = read_keys(first, 10)
    assert len(keys) == 10
    first.commit(batch, [])
    rest = drain(open_source())
    assert rest.isdisjoint(keys)
    assert rest | set(keys) == set(range(1, 31))


def test_items_read_but_not_committed_are_delivered_again_after_a_restart(open_source: Opener) -> None:
    _, keys = read_keys(open_source(), 10)
    assert set(keys) <= drain(open_source())


def test_a_source_with_nothing_new_is_idle(open_source: Opener) -> None:
    drain(open_source())
    batch = open_source().read(10)
    assert batch.idle or (batch.final and not batch.changes)
