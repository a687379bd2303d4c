"""Neo4j fixtures, registered by tests/conftest.py: one server per session, an emptied database per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import neo4j
import pytest

from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process
from graphsync_dev.service import Service


@pytest.fixture(scope="session")
def neo4j_service(run_dir: Path) -> Iterator[Service]:
    service = neo4j_server.start(run_dir)
    yield service
    for pid in service.pids:
        process.stop(pid)


@pytest.fixture
def neo4j_driver(neo4j_service: Service) -> Iterator[neo4j.Driver]:
    """A driver to a database emptied of data, constraints and indexes, so each test starts fresh."""
    with neo4j_server.driver(neo4j_service.env) as driver:
        empty(driver)
        yield driver


def empty(driver: neo4j.Driver) -> None:
    # In chunks: one transaction deleting a large graph (the graph-sync test leaves 400,000
    # entities) would exceed the server's transaction memory.
    with driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS").consume()
    for record in driver.execute_query("SHOW CONSTRAINTS YIELD name").records:
        driver.execute_query("DROP CONSTRAINT $name", name=record["name"])
    for record in driver.execute_query("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'").records:
        driver.execute_query("DROP INDEX $name", name=record["name"])
