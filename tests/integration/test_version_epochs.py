"""One pipeline renumbered under a live workload: every later change applies, and no older write wins.

A pipeline's versions come from its mode and capture (snapshot start times, outbox ids, WAL positions)
and from its engine schema (outbox ids start again when it is made again). Each phase below switches one
of them on the same target while several application connections commit, then reads the graph.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from typing import Any

import neo4j
import psycopg
from psycopg import sql

from graphsync import capture, targets
from graphsync.change import EPOCH_SHIFT, Change, Operation
from graphsync.connectors.postgres.logical.slot import slot_name
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import unique_name
from tests.integration.faults import Writers
from tests.integration.test_pg_to_neo4j import seed

Conn = psycopg.Connection[Any]
log = logging.getLogger(__name__)

SCHEME: Any = "MATCH (s:GraphsyncVersionScheme {pipeline: $pipeline}) RETURN s.epoch AS epoch, s.scheme AS scheme"


def phase(base: dict[str, Any], mode: str, capture: str) -> PipelineSpec:
    document = {**base, "mode": mode}
    document["source"] = {"postgres": {**base["source"]["postgres"], "capture": capture}}
    if capture == "logical" or mode == "snapshot":
        document.pop("transport", None)
    return PipelineSpec.model_validate(document)


def scheme(driver: neo4j.Driver, pipeline: str) -> tuple[int, str]:
    records, _, _ = driver.execute_query(SCHEME, pipeline=pipeline)
    [record] = records
    return int(record["epoch"]), str(record["scheme"])


def test_switching_mode_capture_or_engine_schema_keeps_every_later_change(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, postgres_service: Service
) -> None:
    dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
    engine = unique_name("engine")
    base["source"]["postgres"]["schema"] = engine
    identity = phase(base, "continuous", "logical").identity
    seed(pg_conn, schema, customers=20)
    # (mode, capture, engine schema made again first, the epoch the target records after it)
    phases = [
        ("snapshot", "triggers", False, 0),
        ("continuous", "triggers", False, 1),
        ("snapshotThenStream", "triggers", False, 1),
        ("continuous", "triggers", True, 2),
        ("continuous", "logical", False, 3),
        ("continuous", "triggers", False, 4),
        ("snapshot", "triggers", False, 5),
    ]
    try:
        for mode, way, fresh_engine, epoch in phases:
            if fresh_engine:
                pg_conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(engine)))
            spec = phase(base, mode, way)
            # Capture is in place before the writers start (a stream captures from its start on).
            capture.prepare_source(spec)
            with Writers(dsn, schema) as writers:
                time.sleep(2)
            stats = run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
            label = f"{mode}/{way}{' (engine schema made again)' if fresh_engine else ''}"
            assert stats.failed == 0, label
            assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema), label
            assert scheme(neo4j_driver, spec.identity)[0] == epoch, label
            log.info("%s: %d changes, all applied; epoch %d", label, writers.committed, epoch)
        # A write numbered the old way (a worker of the previous numbering still running) loses to every
        # write of the current epoch, however high its number.
        with ExitStack() as stack:
            sink = targets.sink(spec, stack)
            late = Change("customer", 1, Operation.UPSERT, (1 << EPOCH_SHIFT) - 1, {"id": 1, "name": "stale"})
            assert sink.apply([late]).stale == 1
        assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    finally:
        pg_conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
            (slot_name(identity),),
        )


def test_a_source_gone_back_in_time_is_read_again_and_what_it_no_longer_has_is_swept(
    base: dict[str, Any], pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    """A restore from a backup, as the pipeline meets it: the source is behind the WAL position the target
    recorded, and lacks changes the target already has (made here without capture, which is what a backup
    taken before them amounts to)."""
    base["source"]["postgres"]["schema"] = unique_name("engine")
    seed(pg_conn, schema, customers=20)
    spec = phase(base, "snapshotThenStream", "triggers")
    capture.prepare_source(spec)
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    assert scheme(neo4j_driver, spec.identity)[0] == 0
    # What the backup does not have: gone from the source, unseen by its capture.
    pg_conn.execute("SET session_replication_role = replica")
    pg_conn.execute("DELETE FROM likes WHERE customer_id <= 5")
    pg_conn.execute("UPDATE product SET title = 'as restored' WHERE id <= 3")
    pg_conn.execute("SET session_replication_role = origin")
    neo4j_driver.execute_query(
        "MATCH (s:GraphsyncVersionScheme {pipeline: $pipeline}) SET s.position = s.position + 1000000000000",
        pipeline=spec.identity,
    )
    assert shop.actual(neo4j_driver) != shop.expected(pg_conn, schema)

    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))

    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    assert scheme(neo4j_driver, spec.identity)[0] == 1
    # The resync is recorded as done: the next start streams only.
    records, _, _ = neo4j_driver.execute_query(
        "MATCH (s:GraphsyncVersionScheme {pipeline: $pipeline}) RETURN s.resync AS resync", pipeline=spec.identity
    )
    assert records[0]["resync"] is False
