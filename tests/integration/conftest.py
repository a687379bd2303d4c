"""Fixtures of the integration tests that run a shop pipeline from PostgreSQL (modes, retention)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from graphsync.connectors.files.documents import ALLOWED_ENV
from graphsync_dev import postgres, process
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import unique_name
from tests.integration.faults import Watched

Conn = psycopg.Connection[Any]


@pytest.fixture(autouse=True)
def example_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The workers these tests run register the example parser, as a worker image registers its own."""
    monkeypatch.setenv(ALLOWED_ENV, "tests.parsers:edge_list")


@pytest.fixture(autouse=True)
def no_run_left_going() -> Iterator[None]:
    yield
    Watched.stop_every_run()


@pytest.fixture
def schema(pg_conn: Conn) -> str:
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    shop.create(pg_conn, row[0])
    return str(row[0])


@pytest.fixture
def base(
    schema: str,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    monkeypatch.setenv("TEST_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    pg = postgres_service.env
    return {
        "name": unique_name("m").replace("_", "-"),
        "source": {
            "postgres": {
                "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                "password": {"env": "TEST_PG_PASSWORD"},
                "schema": schema,
            }
        },
        "transport": {"redisStreams": {"url": redis_service.env["GRAPHSYNC_REDIS_URL"]}},
        "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
        "mappings": shop.mappings(schema),
    }


@pytest.fixture
def own_postgres(run_dir: Path) -> Iterator[tuple[Service, Path, list[Service]]]:
    """A PostgreSQL of this test's own, since the test restarts it; every incarnation is stopped afterwards."""
    home = run_dir / unique_name("pg")
    started = [postgres.start(home)]
    yield started[0], home, started
    for service in started:
        for pid in service.pids:
            process.stop(pid)
