"""A logical capture into Neo4j applies two batches at once when they lock no node in common.

Customers, products and likes (a relationship keyed by its two ends) can be named ahead: batches of their
upserts that touch other nodes go to Neo4j side by side; one touching a node a batch in flight touches
(the shop's hot keys), and every batch with a delete, waits for it. Several application connections commit
while a bulk load of new customers gives the run independent batches to overlap.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

import neo4j
import psycopg
import pytest

from graphsync import capture
from graphsync.change import ApplyResult, Change
from graphsync.connectors.neo4j.sink import Neo4jSink
from tests import shop
from tests.integration.faults import Writers
from tests.integration.test_logical_capture import dsn, logical, no_slot_left, until_idle
from tests.integration.test_pg_to_neo4j import seed

__all__ = ["dsn", "no_slot_left"]
Conn = psycopg.Connection[Any]


class Overlap:
    """How many batches the sink was applying at the same moment, at most."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def around(self, apply: Any) -> Any:
        def counted(sink: Neo4jSink, changes: Sequence[Change], staged: Any = None) -> ApplyResult:
            with self._lock:
                self._now += 1
                self.most = max(self.most, self._now)
            try:
                return apply(sink, changes, staged)  # type: ignore[no-any-return]
            finally:
                with self._lock:
                    self._now -= 1

        return counted


def without_orders(graph: shop.Graph) -> shop.Graph:
    nodes = {labels: rows for labels, rows in graph["nodes"].items() if labels != ("Order",)}
    relationships = {r for r in graph["relationships"] if r[0] != "PLACED_BY"}
    return {"nodes": nodes, "relationships": relationships}


def test_batches_locking_no_node_in_common_are_applied_at_once_and_neo4j_never_deadlocks(
    base: dict[str, Any],
    pg_conn: Conn,
    schema: str,
    dsn: str,
    neo4j_driver: neo4j.Driver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    document = copy.deepcopy(base)
    document["mappings"]["nodes"] = [node for node in document["mappings"]["nodes"] if node["name"] != "orders"]
    spec = logical(document, batchSize=20)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=30)
    with Writers(dsn, schema) as writers:
        for low in range(1000, 5000, 500):
            pg_conn.execute(
                "INSERT INTO customer (id, name, tier)"
                " SELECT i, 'bulk ' || i, 'bronze' FROM generate_series(%s::int, %s::int) i",
                (low, low + 499),
            )
        time.sleep(2)
    assert writers.committed > 0
    overlap = Overlap()
    monkeypatch.setattr(Neo4jSink, "apply", overlap.around(Neo4jSink.apply))
    with caplog.at_level(logging.WARNING, logger="neo4j"):
        stats = until_idle(spec)
    assert stats.failed == 0
    assert stats.retries == 0, stats.errors
    # Neo4j reports a deadlock as a transient error the driver retries by itself (after a pause): none here,
    # as two transactions of the run never wait on each other's locks.
    deadlocks = [r.getMessage() for r in caplog.records if "Deadlock" in r.getMessage()]
    assert deadlocks == []
    assert overlap.most == 2
    assert shop.actual(neo4j_driver) == without_orders(shop.expected(pg_conn, schema))
    assert until_idle(spec).read == 0
