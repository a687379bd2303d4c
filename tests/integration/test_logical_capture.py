"""capture: logical on real servers: PostgreSQL's WAL through a replication slot per pipeline, into the graph.

Several application connections commit while the run streams; the graph is compared entity by entity.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest

from graphsync import capture, cleanup
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.postgres.logical.slot import slot_name
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import postgres
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import eventually, unique_name
from tests.integration.faults import (
    Watched,
    Writers,
    converge,
    dead_letters,
    first_batch_since,
    pipeline_spec,
)
from tests.integration.test_pg_to_neo4j import seed

Conn = psycopg.Connection[Any]
log = logging.getLogger(__name__)


def logical(base: dict[str, Any], **fields: Any) -> PipelineSpec:
    document = {**base, "mode": "continuous", **fields}
    document.pop("transport", None)
    document["source"] = {"postgres": {**base["source"]["postgres"], "capture": "logical"}}
    return PipelineSpec.model_validate(document)


def until_idle(spec: PipelineSpec, stop: threading.Event | None = None, on_batch: Any = None) -> RunStats:
    return run.run(spec, RunControl(stop=stop or threading.Event(), until_idle=True, on_batch=on_batch))


def concurrently(schema: str, dsn: str, seconds: float = 3) -> int:
    """Several application connections committing random shop changes for a while; how many they made."""
    with Writers(dsn, schema) as writers:
        time.sleep(seconds)
    assert writers.committed > 0
    return writers.committed


@pytest.fixture
def dsn(postgres_service: Service) -> str:
    return postgres_service.env["GRAPHSYNC_PG_DSN"]


@pytest.fixture(autouse=True)
def no_slot_left(pg_conn: Conn) -> Any:
    """A slot left behind would hold WAL for ever: every test drops the ones it made."""
    yield
    pg_conn.execute(
        "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
        " WHERE NOT active AND slot_name LIKE 'graphsync_%'"
    )


def test_changes_of_concurrent_writers_stream_from_the_wal_into_neo4j(
    base: dict[str, Any], pg_conn: Conn, schema: str, dsn: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = logical(base)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=20)
    committed = concurrently(schema, dsn)
    stats = until_idle(spec)
    assert stats.failed == 0
    assert stats.read >= committed
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    # Every change read was timed from its commit to the target's (a transaction's changes before folding),
    # within this test's minute; none is left waiting.
    assert stats.visible_seconds.count >= stats.read
    assert 0 < stats.visible_seconds.total / stats.visible_seconds.count < 60
    assert stats.unapplied == 0
    # No trigger on any table, and the excluded column is not even published.
    triggers = pg_conn.execute(
        "SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND t.tgname LIKE 'graphsync%%'",
        (schema,),
    ).fetchone()
    assert triggers == (0,)
    published = pg_conn.execute(
        "SELECT attnames FROM pg_publication_tables WHERE pubname = %s AND tablename = 'customer'",
        (slot_name(spec.identity),),
    ).fetchone()
    assert published is not None
    assert "secret" not in published[0]
    # Everything applied was acknowledged: a fresh run finds nothing.
    assert until_idle(spec).read == 0


def test_a_run_stopped_midway_resumes_from_the_slot_and_loses_nothing(
    base: dict[str, Any], pg_conn: Conn, schema: str, dsn: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = logical(base, batchSize=50)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=30)
    concurrently(schema, dsn)
    stop = threading.Event()

    def crash_after_two_batches(stats: RunStats) -> None:
        if stats.batches >= 2:
            stop.set()

    first = until_idle(spec, stop, crash_after_two_batches)
    assert first.read > 0
    assert shop.actual(neo4j_driver) != shop.expected(pg_conn, schema)
    until_idle(spec)
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)


def test_a_second_worker_of_the_pipeline_waits_for_the_first_then_takes_over_the_slot(
    base: dict[str, Any], pg_conn: Conn, schema: str, dsn: str, neo4j_driver: neo4j.Driver
) -> None:
    """A rolling update: the new worker starts while the old one still streams the slot (one reader at a
    time); it retries until the old one has stopped, then streams on from where the old one's target was."""
    spec = logical(base, batchSize=50)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=20)
    old, new = Watched(spec), Watched(spec)
    with Writers(dsn, schema) as writers:
        old.start()
        first_batch_since(old, time.monotonic() - 1)
        new.start()
        time.sleep(4)
        assert new.stats is not None
        assert any("active for PID" in error for error in new.stats.errors), new.stats.errors
        old.finish()
        handed_at = time.monotonic()
        first_batch_since(new, handed_at)
        time.sleep(2)
    assert old.errors == []
    converge(lambda: shop.actual(neo4j_driver), lambda: shop.expected(pg_conn, schema))
    new.finish()
    assert new.errors == []
    assert writers.committed > 0
    assert dead_letters(spec, dsn) == 0
    assert until_idle(spec).read == 0


def test_snapshot_then_stream_over_the_slot(
    base: dict[str, Any], pg_conn: Conn, schema: str, dsn: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=25)
    spec = logical(base, mode="snapshotThenStream")
    until_idle(spec)
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    concurrently(schema, dsn)
    again = until_idle(spec)
    assert again.failed == 0
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)


def test_two_pipelines_on_one_table_each_get_every_change(
    base: dict[str, Any], pg_conn: Conn, schema: str, dsn: str, falkordb_service: Service
) -> None:
    url = falkordb_service.env["GRAPHSYNC_FALKORDB_URL"]
    specs, graphs = [], []
    for _ in range(2):
        graph = unique_name("g")
        specs.append(
            logical(base, name=unique_name("fan").replace("_", "-"), target={"falkordb": {"url": url, "graph": graph}})
        )
        graphs.append(falkor_graph.connect(url, graph))
    for spec in specs:
        capture.prepare_source(spec)
    seed(pg_conn, schema, customers=15)
    concurrently(schema, dsn)
    for spec in specs:
        assert until_idle(spec).failed == 0
    expected = shop.expected(pg_conn, schema)
    try:
        for target in graphs:
            assert shop.actual_falkordb(target) == expected
    finally:
        for target in graphs:
            target.close()


def test_a_table_without_a_replica_identity_is_refused_with_its_name(
    base: dict[str, Any], pg_conn: Conn, schema: str
) -> None:
    pg_conn.execute("ALTER TABLE likes REPLICA IDENTITY NOTHING")
    with pytest.raises(ValueError, match=rf"table {schema}\.likes has no replica identity.*REPLICA IDENTITY FULL"):
        capture.prepare_source(logical(base))


def test_cleanup_drops_the_slot_and_publications_and_releases_the_wal(
    base: dict[str, Any], pg_conn: Conn, schema: str
) -> None:
    spec = logical(base)
    capture.prepare_source(spec)
    name = slot_name(spec.identity)
    assert pg_conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (name,)).fetchone() == (1,)
    report = cleanup.cleanup(spec)
    assert report.replication == [f"slot {name}", f"publication {name}", f"publication {name}_events"]
    assert pg_conn.execute("SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s", (name,)).fetchone() == (0,)
    assert pg_conn.execute("SELECT count(*) FROM pg_publication WHERE pubname LIKE %s", (name + "%",)).fetchone() == (
        0,
    )
    assert cleanup.cleanup(spec).replication == []


def test_cleanup_drops_the_slot_a_worker_still_streams(base: dict[str, Any], pg_conn: Conn, schema: str) -> None:
    """`graphsync cleanup` run while a worker still streams the slot (the operator stops the workers first,
    but a person at a terminal may not): the worker's connection is ended and the slot dropped, not refused
    as in use."""
    spec = logical(base)
    capture.prepare_source(spec)
    name = slot_name(spec.identity)
    slots = "SELECT count(*) FROM pg_replication_slots WHERE slot_name = %s"
    watched = Watched(spec)
    watched.start()
    try:
        active = "SELECT active FROM pg_replication_slots WHERE slot_name = %s"
        eventually(lambda: pg_conn.execute(active, (name,)).fetchone() == (True,), "the worker streaming the slot")
        assert f"slot {name}" in cleanup.cleanup(spec).replication
    finally:
        watched.stop.set()
        assert watched.thread is not None
        watched.thread.join(timeout=120)
        Watched.running.remove(watched)
    # The worker, going on until stopped, may have made its slot again: once it has stopped, nothing is left.
    cleanup.cleanup(spec)
    assert pg_conn.execute(slots, (name,)).fetchone() == (0,)


def test_postgres_restarted_mid_stream_the_slot_resumes_and_nothing_is_lost(
    own_postgres: tuple[Service, Path, list[Service]],
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    redis_service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pg, home, started = own_postgres
    monkeypatch.setenv("MATRIX_PG_PASSWORD", pg.env["GRAPHSYNC_PG_PASSWORD"])
    dsn = pg.env["GRAPHSYNC_PG_DSN"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA shop")
        shop.create(conn, "shop")
    streamed = pipeline_spec(pg, "shop", redis_service, {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}})
    document = streamed.model_dump(by_alias=True, exclude_none=True, exclude={"transport"})
    document["source"]["postgres"]["capture"] = "logical"
    spec = PipelineSpec.model_validate(document)
    watched = Watched(spec)
    watched.start()
    with Writers(dsn, "shop") as writers:
        time.sleep(4)
        started.append(postgres.restart(pg, home, down_seconds=3))
        back_at = time.monotonic()
        time.sleep(4)
    assert writers.cut_off > 0, "the restart cut no writer off: the fault did not happen"
    assert watched.stats is not None
    assert any(error.startswith("source:") for error in watched.stats.errors), watched.stats.errors
    first_after = first_batch_since(watched, back_at)
    with psycopg.connect(dsn, autocommit=True) as source:
        seconds = converge(lambda: shop.actual(neo4j_driver), lambda: shop.expected(source, "shop"))
    watched.finish()
    assert watched.errors == []
    assert dead_letters(spec, dsn) == 0
    assert until_idle(spec).read == 0
    log.info(
        "logical capture, postgres restart: first batch %.1fs after it was back, converged %.1fs after writes"
        " stopped; %d changes, %d writer cut-offs",
        first_after - back_at,
        seconds,
        writers.committed,
        writers.cut_off,
    )


def test_the_wal_the_slot_holds_is_measured_for_status_and_metrics(
    base: dict[str, Any], pg_conn: Conn, schema: str
) -> None:
    spec = logical(base)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=20)
    # Two MiB of changes nobody has read yet.
    pg_conn.execute("UPDATE customer SET name = md5(random()::text) || repeat('x', 1500)")
    for _ in range(400):
        pg_conn.execute("UPDATE customer SET email = md5(random()::text)")
    stats = until_idle(spec)
    assert stats.source_backlog_limit_bytes == spec.postgres.slot_backlog_limit_bytes
    assert stats.source_backlog_bytes is not None
    assert stats.source_backlog_bytes > 1024**2, stats.source_backlog_bytes


def test_a_truncate_deletes_what_it_emptied_and_a_reload_in_one_transaction_lands(
    base: dict[str, Any], pg_conn: Conn, schema: str, dsn: str, neo4j_driver: neo4j.Driver
) -> None:
    spec = logical(base)
    capture.prepare_source(spec)
    seed(pg_conn, schema, customers=20)
    until_idle(spec)
    assert neo4j_driver.execute_query("MATCH ()-[r:LIKES]->() RETURN count(r)").records[0][0] > 0

    pg_conn.execute("TRUNCATE likes")
    pg_conn.execute("UPDATE customer SET name = 'after the truncate' WHERE id = 1")
    until_idle(spec)
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)

    # A reload: the table emptied and filled again in one transaction, while others write around it.
    with pg_conn.transaction():
        pg_conn.execute("TRUNCATE customer CASCADE")
        pg_conn.execute(
            "INSERT INTO customer (id, name, tier) SELECT i, 'reloaded ' || i, 'gold' FROM generate_series(1, 7) i"
        )
    pg_conn.execute("UPDATE customer SET name = 'after the reload' WHERE id = 2")
    stats = until_idle(spec)
    assert stats.failed == 0
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    assert neo4j_driver.execute_query("MATCH (c:Customer) RETURN count(c)").records[0][0] == 7
