"""Retention on real servers: what the engine keeps for its own bookkeeping goes once its time has passed,
and nothing that is still needed (events not yet applied, dead letters not replayed, recent tombstones,
the capture of a pipeline that still runs) is touched."""

from __future__ import annotations

import threading
import time
from typing import Any

import neo4j
import psycopg

from graphsync import capture, retention
from graphsync.change import Change, Operation
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.connectors.postgres.outbox import trigger_name
from graphsync.pipelines import run
from graphsync.runner.contracts import Rejection
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from tests.integration.test_pg_to_neo4j import seed

Conn = psycopg.Connection[Any]
DAY = 86_400


def one(conn: Conn, query: str, *params: Any) -> Any:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def streamed(base: dict[str, Any], **fields: Any) -> PipelineSpec:
    return PipelineSpec.model_validate({**base, "mode": "continuous", **fields})


def test_settled_events_replayed_dead_letters_and_old_tombstones_go_and_nothing_else(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = streamed(base)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=20)
    pg_conn.execute("DELETE FROM likes WHERE customer_id <= 4")
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    settled = one(pg_conn, "SELECT count(*) FROM outbox WHERE pipeline = %s AND status = 'completed'", spec.identity)
    assert settled > 100
    # Half the settled events are two days old; a new change waits, not yet applied.
    pg_conn.execute(
        "UPDATE outbox SET completed_at = now() - interval '2 days' WHERE id IN "
        "(SELECT id FROM outbox WHERE pipeline = %s AND status = 'completed' ORDER BY id LIMIT %s)",
        (spec.identity, settled // 2),
    )
    pg_conn.execute("UPDATE outbox SET completed_at = now() - interval '2 days' WHERE pipeline IS NULL")
    pg_conn.execute("UPDATE customer SET name = 'waiting' WHERE id = 1")
    # Two dead letters: one replayed eight days ago, one still open.
    dead = PostgresDeadLetters(pg_conn, pipeline=spec.identity, schema=schema)
    poison = [Change("customer", key, Operation.UPSERT, 1, {"id": key}) for key in (901, 902)]
    dead.record([Rejection(change, "refused") for change in poison])
    first = one(pg_conn, "SELECT min(id) FROM dead_letter WHERE pipeline = %s", spec.identity)
    assert dead.replay([first]) == 1
    pg_conn.execute("UPDATE dead_letter SET replayed_at = now() - interval '8 days' WHERE id = %s", (first,))
    # Tombstones: the deletes' (recent), one eight days old, one written before tombstones carried a time.
    tombstones = neo4j_driver.execute_query("MATCH (t:GraphsyncTombstone) RETURN count(t)").records[0][0]
    assert tombstones >= 4
    eight_days_ago = int((time.time() - 8 * DAY) * 1000)
    neo4j_driver.execute_query(
        "CREATE (:GraphsyncTombstone {id: 'customer:old', version: 1, at: $at})", at=eight_days_ago
    )
    neo4j_driver.execute_query("CREATE (:GraphsyncTombstone {id: 'customer:legacy', version: 1})")

    pruned = retention.prune(spec)

    assert pruned.events == settled // 2
    assert one(pg_conn, "SELECT count(*) FROM outbox WHERE pipeline = %s AND status = 'completed'", spec.identity) == (
        settled - settled // 2
    )
    # Not yet applied: the waiting change and the replayed dead letter.
    assert one(pg_conn, "SELECT count(*) FROM outbox WHERE pipeline = %s AND status = 'pending'", spec.identity) == 2
    assert pruned.dead_letters == 1
    assert [d.entity_key for d in dead.list(include_replayed=True)] == [902]
    assert pruned.tombstones == 1
    found = neo4j_driver.execute_query("MATCH (t:GraphsyncTombstone) RETURN t.id AS id, t.at AS at").records
    assert "customer:old" not in [r["id"] for r in found]
    assert len(found) == tombstones + 1
    assert all(r["at"] is not None for r in found)  # the legacy one now ages like the others
    # The waiting change is still applied: retention took nothing it needed.
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert neo4j_driver.execute_query("MATCH (c:Customer {id: 1}) RETURN c.name").records[0][0] == "waiting"


def test_the_capture_of_a_pipeline_nobody_runs_is_retired_only_when_asked(
    base: dict[str, Any], pg_conn: Conn, schema: str
) -> None:
    seed(pg_conn, schema, customers=5)
    running = streamed(base, name="running-one")
    gone = streamed(base, name="deleted-one")
    capture.prepare_source(running)
    capture.prepare_source(gone)
    pg_conn.execute("UPDATE customer SET name = 'captured twice' WHERE id = 1")
    pg_conn.execute(
        "UPDATE outbox_subscriber SET updated_at = now() - interval '3 days' WHERE pipeline = %s", ("deleted-one",)
    )

    def triggers(pipeline: str) -> int:
        return int(one(pg_conn, "SELECT count(*) FROM pg_trigger WHERE tgname = %s", trigger_name(pipeline)))

    def events(pipeline: str) -> int:
        return int(one(pg_conn, "SELECT count(*) FROM outbox WHERE pipeline = %s", pipeline))

    # By default a pipeline that stopped running keeps its capture: it comes back without loss.
    assert retention.prune(running).retired == ()
    assert triggers("deleted-one") == 4
    assert events("deleted-one") == 1

    # Asked to, a running pipeline retires the capture of one not seen for longer than the setting.
    asked = running.model_copy(
        update={"retention": running.retention.model_copy(update={"abandoned_capture_seconds": DAY})}
    )
    assert retention.prune(asked).retired == ("deleted-one",)
    assert (triggers("deleted-one"), events("deleted-one")) == (0, 0)
    assert one(pg_conn, "SELECT count(*) FROM outbox_subscriber WHERE pipeline = 'deleted-one'") == 0
    # The running pipeline's capture is whole: it still gets every change.
    assert triggers("running-one") == 4
    pg_conn.execute("UPDATE customer SET name = 'captured once' WHERE id = 2")
    assert (events("running-one"), events("deleted-one")) == (2, 0)


def test_a_workers_run_prunes_at_its_start(base: dict[str, Any], pg_conn: Conn, schema: str) -> None:
    spec = streamed(base)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=5)
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    pg_conn.execute("UPDATE outbox SET completed_at = now() - interval '2 days' WHERE pipeline = %s", (spec.identity,))
    stop = threading.Event()
    worker = threading.Thread(target=run.run, args=(spec, RunControl(stop=stop)), daemon=True)
    worker.start()
    try:
        deadline = time.monotonic() + 30
        while (
            one(pg_conn, "SELECT count(*) FROM outbox WHERE pipeline = %s", spec.identity)
            and time.monotonic() < deadline
        ):
            time.sleep(0.5)
        assert one(pg_conn, "SELECT count(*) FROM outbox WHERE pipeline = %s", spec.identity) == 0
    finally:
        stop.set()
        worker.join(timeout=60)
