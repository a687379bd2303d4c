"""Outages mid-stream: Neo4j stopped for 30 s, Redis flushed. Retries recover and nothing is lost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
import redis

from graphsync import capture
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process
from graphsync_dev.service import Service
from tests import shop, workload
from tests.conftest import unique_name

Conn = psycopg.Connection[Any]


@pytest.fixture
def own_neo4j(run_dir: Path) -> Iterator[tuple[Service, Path, list[Service]]]:
    """A Neo4j of this test's own (its folder, and every incarnation to stop), since the test restarts it."""
    home = run_dir / unique_name("neo4j")
    started = [neo4j_server.start(home)]
    yield started[0], home, started
    for service in started:
        for pid in service.pids:
            process.stop(pid)


def make_spec(schema: str, postgres: Service, redis_service: Service, neo4j_uri: str) -> PipelineSpec:
    pg = postgres.env
    return PipelineSpec.model_validate(
        {
            "name": unique_name("fault").replace("_", "-"),
            "source": {
                "postgres": {
                    "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                    "password": {"env": "GRAPHSYNC_PG_PASSWORD"},
                    "schema": schema,
                }
            },
            "transport": {
                "redisStreams": {
                    "url": redis_service.env["GRAPHSYNC_REDIS_URL"],
                    "claimIdleSeconds": 1,
                    "redeliverAfterSeconds": 3,
                }
            },
            "target": {"neo4j": {"uri": neo4j_uri}},
            "mappings": shop.mappings(schema),
            "batchSize": 200,
        }
    )


def current_schema(conn: Conn) -> str:
    row = conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    return str(row[0])


def run_in_background(spec: PipelineSpec) -> tuple[threading.Event, threading.Thread, list[Any]]:
    stop = threading.Event()
    results: list[Any] = []
    thread = threading.Thread(target=lambda: results.append(run.run(spec, RunControl(stop=stop))), daemon=True)
    thread.start()
    return stop, thread, results


def settle(spec: PipelineSpec) -> None:
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))


def test_neo4j_down_for_30_seconds_mid_stream_is_retried_and_loses_nothing(
    pg_conn: Conn,
    postgres_service: Service,
    redis_service: Service,
    own_neo4j: tuple[Service, Path, list[Service]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAPHSYNC_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    schema = current_schema(pg_conn)
    shop.create(pg_conn, schema)
    service, home, started = own_neo4j
    uri = service.env["GRAPHSYNC_NEO4J_URI"]
    spec = make_spec(schema, postgres_service, redis_service, uri)
    capture.prepare_source(spec)
    stop, thread, results = run_in_background(spec)
    try:
        workload.run(pg_conn, schema, 3000, seed=1)
        for pid in service.pids:
            process.stop(pid)
        workload.run(pg_conn, schema, 3000, seed=2)  # written while the target is down
        time.sleep(30)
        started.append(neo4j_server.restart(service, home))
        workload.run(pg_conn, schema, 3000, seed=3)
    finally:
        stop.set()
        thread.join(timeout=120)
    settle(spec)
    with neo4j.GraphDatabase.driver(uri) as driver:
        assert shop.actual(driver) == shop.expected(pg_conn, schema)
    assert results[0].retries > 0


def test_redis_flushed_mid_stream_the_relay_republishes_and_nothing_is_lost(
    pg_conn: Conn,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAPHSYNC_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    schema = current_schema(pg_conn)
    shop.create(pg_conn, schema)
    spec = make_spec(schema, postgres_service, redis_service, neo4j_service.env["GRAPHSYNC_NEO4J_URI"])
    capture.prepare_source(spec)
    stop, thread, _ = run_in_background(spec)
    try:
        with redis.Redis.from_url(redis_service.env["GRAPHSYNC_REDIS_URL"]) as client:
            for seed in range(3):
                workload.run(pg_conn, schema, 2000, seed=seed)
                client.flushall()
    finally:
        stop.set()
        thread.join(timeout=120)
    time.sleep(3.5)  # past redeliverAfterSeconds: events Redis lost are due again
    settle(spec)
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    row = pg_conn.execute("SELECT count(*) FROM outbox WHERE status <> 'completed'").fetchone()
    assert row == (0,)
