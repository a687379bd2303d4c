"""Checkpoint resets on real servers: a stream group set back replays exactly the last N changes, set forward
skips exactly the next N (and the outbox never publishes them again); a replication slot skips whole
transactions forward and refuses to go back; each reset applies once per name.

The changes come from three connections at once, so they spread over the partitions in an order no test fixes.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from contextlib import ExitStack
from typing import Any

import neo4j
import psycopg

from graphsync import resets
from graphsync.cleanup import cleanup
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.reconcile.pipeline import audit_store
from graphsync.spec.pipeline import PipelineSpec
from tests import shop
from tests.integration.test_backfill import compared, differences
from tests.integration.test_pg_to_neo4j import make_spec, seed, sync

__all__ = ["make_spec"]

Conn = psycopg.Connection[Any]
WRITERS = 3


def write(dsn: str, schema: str, statements: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
    """The statements shared out over WRITERS connections, each committing one at a time."""

    def body(share: Sequence[tuple[str, tuple[Any, ...]]]) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"SET search_path TO {schema}")
            for statement, params in share:
                conn.execute(statement, params)

    threads = [threading.Thread(target=body, args=(statements[i::WRITERS],)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def renames(ids: range, name: str) -> list[tuple[str, tuple[Any, ...]]]:
    return [("UPDATE customer SET name = %s WHERE id = %s", (f"{name}-{i}", i)) for i in ids]


def names(driver: neo4j.Driver, ids: range) -> dict[int, str]:
    records, _, _ = driver.execute_query(
        "MATCH (c:Customer) WHERE c.id IN $ids RETURN c.id AS id, c.name AS name", ids=list(ids)
    )
    return {int(r["id"]): str(r["name"]) for r in records}


def with_resets(make_spec: Any, capture: str, items: list[dict[str, Any]], **overrides: Any) -> PipelineSpec:
    spec: PipelineSpec = make_spec(capture, mode="snapshotThenStream", checkpointResets=items, **overrides)
    return spec


def test_a_stream_set_back_replays_the_last_changes_and_set_forward_skips_the_next(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, postgres_service: Any
) -> None:
    dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
    seed(pg_conn, schema, customers=200)
    spec = make_spec("triggers", mode="snapshotThenStream")
    sync(spec)
    write(dsn, schema, renames(range(101, 201), "early"))
    write(dsn, schema, renames(range(1, 31), "late"))
    sync(spec)
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    # The target restored from an old backup: the last 30 changes' entities hold older versions and values.
    neo4j_driver.execute_query(
        "MATCH (c:Customer) WHERE c.id <= 30 SET c.name = 'old backup', c._graphsync_version = 1"
    )

    back = [{"name": "replay", "checkpoint": "stream", "back": 30}]
    seen: list[list[dict[str, Any]]] = []
    stats = sync(with_resets(make_spec, "triggers", back), on_resets=seen.append)

    [replay] = seen[-1]
    assert (replay["phase"], replay["moved"]) == ("Applied", 30), replay
    assert "the last 30 change(s) are read again" in replay["message"]
    # Exactly those 30 were read again, and they made the target whole.
    assert stats.read == 30
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    # Applied once per name: the next run reads nothing again and says it is applied.
    seen.clear()
    assert sync(with_resets(make_spec, "triggers", back), on_resets=seen.append).read == 0
    assert seen[-1][0]["phase"] == "Applied"

    # Changes made while the pipeline is stopped, then skipped.
    write(dsn, schema, renames(range(31, 51), "skipped"))
    forward = [*back, {"name": "skip", "checkpoint": "stream", "forward": 20}]
    skipping = with_resets(make_spec, "triggers", forward)
    seen.clear()
    assert sync(skipping, on_resets=seen.append).read == 0
    skip = seen[-1][1]
    assert (skip["phase"], skip["moved"]) == ("Applied", 20), skip
    assert "the next 20 change(s) are skipped" in skip["message"]
    assert not any(name.startswith("skipped") for name in names(neo4j_driver, range(31, 51)).values())
    # The pipeline resumes after them; the outbox holds none of them as waiting (never published again).
    write(dsn, schema, renames(range(51, 56), "after"))
    assert sync(skipping).read == 5
    assert names(neo4j_driver, range(51, 56)) == {i: f"after-{i}" for i in range(51, 56)}
    events = Outbox(schema, pipeline=skipping.identity).events(pg_conn, limit=10_000)
    skipped = [e for e in events if e.last_error == "skipped by checkpoint reset skip"]
    assert len(skipped) == 20
    assert all(e.status.value == "completed" for e in events)
    # What was skipped is drift a reconciliation finds: exactly those 20 customers.
    assert differences(compared(skipping)) == {"customer": (0, 0, 20)}
    with ExitStack() as stack:
        assert set(resets.records(audit_store(skipping, stack), skipping.identity)) == {"replay", "skip"}
    # Deleting the pipeline with deletionPolicy cleanup takes the reset records too.
    cleanup(skipping)
    with ExitStack() as stack:
        assert resets.records(audit_store(skipping, stack), skipping.identity) == {}


def test_a_slot_skips_whole_transactions_forward_and_cannot_go_back(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, postgres_service: Any
) -> None:
    dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
    seed(pg_conn, schema, customers=60)
    spec = make_spec("logical", mode="snapshotThenStream", transport=None)
    sync(spec)
    # Two transactions of five changes each: a skip of seven ends at the end of the second.
    for start in (1, 6):
        with pg_conn.transaction():
            for i in range(start, start + 5):
                pg_conn.execute("UPDATE customer SET name = %s WHERE id = %s", (f"gone-{i}", i))
    items = [{"name": "skip", "checkpoint": "slot", "forward": 7}]
    seen: list[list[dict[str, Any]]] = []
    assert sync(with_resets(make_spec, "logical", items, transport=None), on_resets=seen.append).read == 0
    skip = seen[-1][0]
    assert (skip["phase"], skip["moved"]) == ("Applied", 10), skip
    assert "10 change(s) in 2 transaction(s) are skipped" in skip["message"]
    assert not any(name.startswith("gone") for name in names(neo4j_driver, range(1, 11)).values())

    # Three connections commit more; a position behind the slot is refused, and the pipeline streams on.
    write(dsn, schema, renames(range(11, 41), "kept"))
    before = str(skip["before"]).split('"')[3]
    items.append({"name": "rewind", "checkpoint": "slot", "to": before})
    seen.clear()
    assert sync(with_resets(make_spec, "logical", items, transport=None), on_resets=seen.append).read == 30
    rewind = seen[-1][1]
    assert rewind["phase"] == "Refused"
    assert "a slot cannot go back" in rewind["message"]
    assert names(neo4j_driver, range(11, 41)) == {i: f"kept-{i}" for i in range(11, 41)}
