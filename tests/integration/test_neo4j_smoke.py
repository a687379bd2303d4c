"""Neo4j is the real 5.26 LTS Community server, transactional, with constraints and authentication."""

from __future__ import annotations

from pathlib import Path

import neo4j
import pytest

from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process


def test_reports_kernel_5_26_community(neo4j_driver: neo4j.Driver) -> None:
    records, _, _ = neo4j_driver.execute_query("CALL dbms.components() YIELD name, versions, edition")
    assert records[0]["name"] == "Neo4j Kernel"
    assert records[0]["versions"][0].startswith("5.26.")
    assert records[0]["edition"] == "community"


def test_a_rolled_back_transaction_leaves_no_trace(neo4j_driver: neo4j.Driver) -> None:
    with neo4j_driver.session() as session:
        tx = session.begin_transaction()
        tx.run("UNWIND range(1, 100) AS i CREATE (:Probe {i: i})").consume()
        tx.rollback()
        assert session.run("MATCH (p:Probe) RETURN count(p) AS n").single(strict=True)["n"] == 0
        with session.begin_transaction() as committed:
            committed.run("CREATE (:Probe {i: 1})").consume()
            committed.commit()
        assert session.run("MATCH (p:Probe) RETURN count(p) AS n").single(strict=True)["n"] == 1


def test_a_uniqueness_constraint_is_enforced(neo4j_driver: neo4j.Driver) -> None:
    neo4j_driver.execute_query("CREATE CONSTRAINT probe_key FOR (p:Probe) REQUIRE p.key IS UNIQUE")
    neo4j_driver.execute_query("CREATE (:Probe {key: 'a'})")
    with pytest.raises(neo4j.exceptions.ConstraintError, match="already exists"):
        neo4j_driver.execute_query("CREATE (:Probe {key: 'a'})")


def test_with_auth_on_only_the_right_password_gets_in(run_dir: Path) -> None:
    service = neo4j_server.start(run_dir / "auth", auth=True, password="correct-horse")
    try:
        assert neo4j_server.probe(service.env).startswith("neo4j 5.26.")
        wrong = {**service.env, "GRAPHSYNC_NEO4J_PASSWORD": "wrong-password"}
        with neo4j_server.driver(wrong) as driver, pytest.raises(neo4j.exceptions.AuthError):
            driver.verify_connectivity()
    finally:
        for pid in service.pids:
            process.stop(pid)
