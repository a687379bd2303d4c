"""The other modes: a resumable snapshot with its sweep, the snapshot-to-stream handover, the watermark scan."""

from __future__ import annotations

import threading
import time
from typing import Any

import neo4j
import psycopg
import pytest
import redis

from graphsync.connectors.postgres.outbox import trigger_name
from graphsync.pipelines import run
from graphsync.reconcile.pipeline import reconcile
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.shapes import Watch
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import eventually
from tests.integration.faults import Watched
from tests.integration.test_pg_to_neo4j import seed, sync

Conn = psycopg.Connection[Any]


def test_a_snapshot_resumes_where_it_stopped_and_sweeps_what_the_source_lost(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=40)
    spec = PipelineSpec.model_validate({**base, "mode": "snapshot", "batchSize": 7})
    stop = threading.Event()

    def crash_after_three_batches(stats: RunStats) -> None:
        if stats.batches == 3:
            stop.set()

    first = run.run(spec, RunControl(stop=stop, on_batch=crash_after_three_batches))
    assert first.read == 21
    assert shop.actual(neo4j_driver) != shop.expected(pg_conn, schema)

    second = run.run(spec, RunControl(stop=threading.Event()))
    total = 40 + 40 + 80 + 40  # customers, products, orders, likes
    assert second.read == total - 21  # finished pages are not read again
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)

    pg_conn.execute("DELETE FROM likes WHERE stars = 1")
    pg_conn.execute("DELETE FROM orders WHERE id > 60")
    pg_conn.execute("UPDATE customer SET tier = 'gold' WHERE id < 10")
    third = run.run(spec, RunControl(stop=threading.Event()))
    assert third.deleted > 20
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)


def test_snapshot_then_stream_hands_over_without_losing_or_doubling(
    base: dict[str, Any], pg_conn: Conn, postgres_service: Service, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=30)
    spec = PipelineSpec.model_validate({**base, "mode": "snapshotThenStream", "batchSize": 10})
    with psycopg.connect(postgres_service.env["GRAPHSYNC_PG_DSN"], autocommit=True) as writer:
        writer.execute(f"SET search_path TO {schema}")
        edits = iter(
            [
                "UPDATE customer SET name = 'renamed during snapshot' WHERE id IN (1, 29)",
                "DELETE FROM customer WHERE id = 2",
                "INSERT INTO customer VALUES (500, 'new during snapshot', NULL, NULL, 'x')",
                "UPDATE orders SET customer_id = 500 WHERE id = 3",
                "DELETE FROM likes WHERE customer_id = 5",
                "UPDATE product SET price = 0.5 WHERE id = 30",
            ]
        )

        def edit_while_snapshotting(stats: RunStats) -> None:
            statement = next(edits, None)
            if statement:
                writer.execute(statement)

        stats = run.run(spec, RunControl(stop=threading.Event(), until_idle=True, on_batch=edit_while_snapshotting))

    assert stats.failed == 0
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    records, _, _ = neo4j_driver.execute_query("MATCH (c:Customer {id: 1}) RETURN c.name AS name")
    assert records[0]["name"] == "renamed during snapshot"

    # A restart (a worker rolled, rescheduled, OOM-killed) streams only: the finished snapshot is not read again.
    pg_conn.execute("UPDATE customer SET name = 'after the restart' WHERE id = 7")
    restarted = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert restarted.read == 1
    assert restarted.stale == 0
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)


def test_a_pipeline_given_a_namespace_adopts_the_state_its_bare_name_kept(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, redis_service: Service
) -> None:
    """An upgrade: a SyncPipeline's state used to be named by its name alone; under its identity
    (namespace.name) it goes on from the same checkpoints, streams and dead letters."""
    seed(pg_conn, schema, customers=20)
    legacy = PipelineSpec.model_validate({**base, "mode": "snapshotThenStream"})
    first = run.run(legacy, RunControl(stop=threading.Event(), until_idle=True))
    assert first.read > 20

    pg_conn.execute("UPDATE customer SET name = 'after the upgrade' WHERE id = 3")
    upgraded = legacy.model_copy(update={"namespace": "team-a"})
    again = run.run(upgraded, RunControl(stop=threading.Event(), until_idle=True))
    assert again.read == 1  # the finished snapshot is not read again
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    with redis.Redis.from_url(redis_service.env["GRAPHSYNC_REDIS_URL"], decode_responses=True) as client:
        assert list(client.scan_iter(match=f"graphsync:{legacy.name}:*")) == []
        assert list(client.scan_iter(match=f"graphsync:team-a.{legacy.name}:*")) != []
    rows = pg_conn.execute("SELECT DISTINCT pipeline FROM checkpoint").fetchall()
    assert rows == [(f"team-a.{legacy.name}",)]
    # The bare name's capture is retired: no second copy of every change for a pipeline nobody runs.
    triggers = pg_conn.execute(
        "SELECT count(*) FROM pg_trigger WHERE tgname = %s", (trigger_name(legacy.identity),)
    ).fetchone()
    assert triggers == (0,)


def test_incremental_mode_follows_a_watermark_column(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    pg_conn.execute(
        "CREATE TABLE person (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())"
    )
    pg_conn.execute("INSERT INTO person (id, name) SELECT i, 'p' || i FROM generate_series(1, 25) AS i")
    mapping = {"nodes": [{"name": "person", "table": f"{schema}.person", "labels": ["Person"], "key": "id"}]}
    spec = PipelineSpec.model_validate(
        {
            **base,
            "mode": "incremental",
            "batchSize": 10,
            "mappings": mapping,
            "source": {"postgres": {**base["source"]["postgres"], "watermarkColumn": "updated_at"}},
        }
    )

    def synced() -> dict[int, str]:
        records, _, _ = neo4j_driver.execute_query("MATCH (p:Person) RETURN p.id AS id, p.name AS name")
        return {r["id"]: r["name"] for r in records}

    first = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert first.created == 25
    assert synced() == {i: f"p{i}" for i in range(1, 26)}

    pg_conn.execute("UPDATE person SET name = 'changed', updated_at = clock_timestamp() WHERE id IN (3, 4)")
    second = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    # A new run reads again the rows stamped within the overlap: a tie of versions with the same contents is
    # stale to the target (no write); only the two changed rows are written.
    assert (second.created, second.updated) == (0, 2)
    assert second.stale == second.read - 2
    assert synced()[3] == synced()[4] == "changed"


def test_incremental_mode_finds_a_late_committing_transaction_and_steps_over_null_watermarks(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, postgres_service: Service
) -> None:
    pg_conn.execute(
        "CREATE TABLE person (id int PRIMARY KEY, name text, updated_at timestamptz DEFAULT clock_timestamp())"
    )
    pg_conn.execute("INSERT INTO person (id, name) SELECT i, 'p' || i FROM generate_series(1, 10) AS i")
    mapping = {"nodes": [{"name": "person", "table": f"{schema}.person", "labels": ["Person"], "key": "id"}]}
    spec = PipelineSpec.model_validate(
        {
            **base,
            "mode": "incremental",
            "batchSize": 4,
            "mappings": mapping,
            "source": {"postgres": {**base["source"]["postgres"], "watermarkColumn": "updated_at"}},
        }
    )

    def synced() -> dict[int, str]:
        records, _, _ = neo4j_driver.execute_query("MATCH (p:Person) RETURN p.id AS id, p.name AS name")
        return {r["id"]: r["name"] for r in records}

    def once() -> RunStats:
        return run.run(spec, RunControl(stop=threading.Event(), until_idle=True))

    once()
    # An application transaction stamps its row first and commits last; another commits in between.
    with psycopg.connect(postgres_service.env["GRAPHSYNC_PG_DSN"]) as late:
        late.execute(f"UPDATE {schema}.person SET name = 'late', updated_at = clock_timestamp() WHERE id = 5")
        pg_conn.execute("UPDATE person SET name = 'early', updated_at = clock_timestamp() WHERE id = 6")
        once()
        assert synced()[6] == "early"
        late.commit()
    once()
    assert synced()[5] == "late"

    # A NULL watermark, last in the scan's order: refused with the reason, and the scan goes on past it.
    pg_conn.execute("UPDATE person SET updated_at = NULL, name = 'no stamp' WHERE id = 9")
    pg_conn.execute("UPDATE person SET name = 'after the null', updated_at = clock_timestamp() WHERE id = 2")
    refused = once()
    assert refused.failed == 1
    assert any("updated_at is NULL" in error for error in refused.errors)
    pg_conn.execute("UPDATE person SET name = 'later still', updated_at = clock_timestamp() WHERE id = 3")
    once()
    assert (synced()[2], synced()[3]) == ("after the null", "later still")


def test_incremental_mode_takes_a_second_update_under_the_same_watermark(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    """Two updates within one tick of the application's clock: the second keeps the watermark of the first.
    A running worker reads the row again (it is within the overlap) and writes the second state; a row read
    again unchanged is not even sent."""
    pg_conn.execute("CREATE TABLE person (id int PRIMARY KEY, name text, updated_at timestamptz NOT NULL)")
    pg_conn.execute("INSERT INTO person SELECT i, 'p' || i, now() FROM generate_series(1, 10) AS i")
    mapping = {"nodes": [{"name": "person", "table": f"{schema}.person", "labels": ["Person"], "key": "id"}]}
    spec = PipelineSpec.model_validate(
        {
            **base,
            "mode": "incremental",
            "mappings": mapping,
            "source": {"postgres": {**base["source"]["postgres"], "watermarkColumn": "updated_at"}},
        }
    )

    def name_of(key: int) -> Any:
        records, _, _ = neo4j_driver.execute_query("MATCH (p:Person {id: $id}) RETURN p.name AS name", id=key)
        return records[0]["name"] if records else None

    watched = Watched(spec)
    watched.start()
    try:
        eventually(lambda: name_of(10) == "p10", "the first scan", timeout=30)
        tick = pg_conn.execute("SELECT clock_timestamp()").fetchone()
        assert tick is not None
        pg_conn.execute("UPDATE person SET name = 'first', updated_at = %s WHERE id = 3", tick)
        eventually(lambda: name_of(3) == "first", "the first update", timeout=30)
        pg_conn.execute("UPDATE person SET name = 'second', updated_at = %s WHERE id = 3", tick)
        eventually(lambda: name_of(3) == "second", "the second update, under the same watermark", timeout=30)
        assert watched.stats is not None
        read = watched.stats.read
        # Longer than the half overlap between two readings again from the checkpoint.
        time.sleep(7)
        assert watched.stats.read == read
    finally:
        watched.finish()
    assert watched.errors == []


def test_an_integer_watermark_update_beats_a_repair_delete_of_the_same_version(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    """Versions of an integer watermark are the counter's values. A repair deletes a row gone from the source
    one above what the target held (rev 1 -> 2); the row inserted again at its next rev (2) must win over
    that delete, or it never reaches the target."""
    pg_conn.execute("CREATE TABLE item (id int PRIMARY KEY, name text, rev int NOT NULL)")
    pg_conn.execute("INSERT INTO item SELECT i, 'i' || i, 1 FROM generate_series(1, 5) AS i")
    spec = PipelineSpec.model_validate(
        {
            **base,
            "mode": "incremental",
            "mappings": {"nodes": [{"name": "item", "table": f"{schema}.item", "labels": ["Item"], "key": "id"}]},
            "source": {"postgres": {**base["source"]["postgres"], "watermarkColumn": "rev"}},
        }
    )
    sync(spec)
    pg_conn.execute("DELETE FROM item WHERE id = 3")
    job = ReconcileSpec.model_validate({"action": "repair"})
    assert reconcile(spec, job, threading.Event()).total("repaired") == 1
    pg_conn.execute("INSERT INTO item VALUES (3, 'back', 2)")
    sync(spec)
    records, _, _ = neo4j_driver.execute_query("MATCH (i:Item {id: 3}) RETURN i.name AS name")
    assert [r["name"] for r in records] == ["back"]


def test_a_watermark_column_that_holds_no_timestamp_or_integer_is_refused_before_anything_is_read(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    """A double precision watermark: each row's version could not be made, and the scan's position could not
    be compared either (once it held such a value, the run retried its reads for ever). Refused at start,
    naming the column, the table and its type; with the column fixed (and the new shape accepted) the same
    pipeline syncs."""
    pg_conn.execute("CREATE TABLE person (id int PRIMARY KEY, name text, updated_at double precision NOT NULL)")
    pg_conn.execute("INSERT INTO person SELECT i, 'p' || i, 1.5 * i FROM generate_series(1, 5) AS i")
    mapping = {"nodes": [{"name": "person", "table": f"{schema}.person", "labels": ["Person"], "key": "id"}]}
    spec = PipelineSpec.model_validate(
        {
            **base,
            "mode": "incremental",
            "mappings": mapping,
            "source": {"postgres": {**base["source"]["postgres"], "watermarkColumn": "updated_at"}},
        }
    )
    stop = threading.Event()
    watchdog = threading.Timer(60, stop.set)
    watchdog.start()
    try:
        with pytest.raises(ValueError, match="watermarkColumn") as refused:
            run.run(spec, RunControl(stop=stop, until_idle=True))
    finally:
        watchdog.cancel()
    message = str(refused.value)
    assert "updated_at" in message
    assert f"{schema}.person" in message
    assert "double precision" in message
    assert not stop.is_set(), "the run should end on its own, not when stopped"
    records, _, _ = neo4j_driver.execute_query("MATCH (p:Person) RETURN count(p) AS n")
    assert records[0]["n"] == 0

    pg_conn.execute("ALTER TABLE person ALTER COLUMN updated_at TYPE timestamptz USING to_timestamp(updated_at)")
    # A retyped watermark column is a schema change the pipeline stops for until accepted (see shapes).
    assert "person" in Watch(spec).differences(accept=True)
    assert run.run(spec, RunControl(stop=threading.Event(), until_idle=True)).created == 5
