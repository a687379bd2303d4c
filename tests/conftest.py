"""Fixtures shared by every tier.

The tier of a test is its folder: tests/unit needs no server, tests/integration
starts the real databases, tests/e2e adds the real Kubernetes control plane. Each
server starts once per session, on first use, through the same code as
`graphsync-dev up`; a server that cannot start fails the tests that need it.
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis

from graphsync_dev import postgres, process, substrate, tls
from graphsync_dev.service import Service

pytest_plugins = ["tests.integration._neo4j"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in ("integration", "e2e"):
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def run_dir() -> Iterator[Path]:
    path = substrate.new_run_dir("graphsync-test-")
    yield path
    # A test that failed midway may have left a server of its own running.
    process.stop_children()
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def authority(run_dir: Path) -> tls.Authority:
    """A certificate authority of the test's own."""
    return tls.authority(run_dir / unique_name("ca"))


@pytest.fixture
def tls_postgres(run_dir: Path, authority: tls.Authority) -> Iterator[Service]:
    """A PostgreSQL of the test's own that takes TLS connections only, each with a client certificate `authority`
    signed (in the run's folder, not the test's: the server runs as another user, who could not reach the test's)."""
    service = postgres.start(run_dir / unique_name("pg"), tls=authority)
    yield service
    for pid in service.pids:
        process.stop(pid)


def _serve(name: str, run_dir: Path) -> Iterator[Service]:
    [service] = substrate.start_all([name], run_dir)
    yield service
    substrate.stop_all([service])


@pytest.fixture(scope="session")
def postgres_service(run_dir: Path) -> Iterator[Service]:
    yield from _serve("postgres", run_dir)


@pytest.fixture(scope="session")
def redis_service(run_dir: Path) -> Iterator[Service]:
    yield from _serve("redis", run_dir)


@pytest.fixture(scope="session")
def falkordb_service(run_dir: Path) -> Iterator[Service]:
    yield from _serve("falkordb", run_dir)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def eventually(check: Callable[[], Any], what: str, timeout: float = 90, every: float = 0.5) -> Any:
    """Wait for what a test cannot know the time of (a server restarting, a controller reacting);
    returns what the check found."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(every)


@pytest.fixture
def pg_conn(postgres_service: Service) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection whose search_path is a fresh schema, dropped afterwards."""
    schema = unique_name("t")
    with psycopg.connect(postgres.dsn(postgres_service.env), autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE SCHEMA {}").format(psycopg.sql.Identifier(schema)))
        conn.execute(psycopg.sql.SQL("SET search_path TO {}").format(psycopg.sql.Identifier(schema)))
        yield conn
        conn.execute(psycopg.sql.SQL("DROP SCHEMA {} CASCADE").format(psycopg.sql.Identifier(schema)))


@pytest.fixture
def redis_client(redis_service: Service) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(redis_service.env["GRAPHSYNC_REDIS_URL"], decode_responses=True) as client:
        yield client


@pytest.fixture
def stream_name(redis_client: redis.Redis) -> Iterator[str]:
    """A fresh stream key, deleted afterwards."""
    name = unique_name("test:stream")
    yield name
    redis_client.delete(name)


@pytest.fixture
def falkordb_client(falkordb_service: Service) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], decode_responses=True) as client:
        yield client


@pytest.fixture
def graph_name(falkordb_client: redis.Redis) -> Iterator[str]:
    """A fresh FalkorDB graph name, deleted afterwards."""
    name = unique_name("test_graph")
    yield name
    if falkordb_client.exists(name):
        # redis-py leaves execute_command unannotated.
        falkordb_client.execute_command("GRAPH.DELETE", name)  # type: ignore[no-untyped-call]
