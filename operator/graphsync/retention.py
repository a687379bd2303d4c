"""Retention: the engine's own bookkeeping pruned by age, in small chunks, by the pipeline's running workers.

What grows with every change and is pruned here (see `spec.retention` for the settings and defaults):
- outbox events this pipeline applied or dead-lettered (their copy is in the dead-letter store);
- dead letters already replayed (a dead letter not yet replayed is data the target lacks: never pruned);
- tombstones in the target graph, which keep a late older change from bringing a deleted entity back;
- with `abandonedCaptureSeconds` set, the capture (triggers, subscription, events, checkpoints) of any other
  pipeline on the same engine schema that no worker has run for that long.

A pass runs when the run starts and then every PASS_SECONDS in a thread of its own; a pass that fails
(a server away) is logged and tried again at the next one, and never stops the sync.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, LiteralString

import psycopg
from psycopg import sql

from graphsync import connect
from graphsync.cleanup.targets import repeat
from graphsync.connectors.graphs.reading import Store
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.outbox import trigger_name
from graphsync.reconcile.pipeline import existing, graph_store
from graphsync.spec import identifiers
from graphsync.spec.pipeline import Mode, PipelineSpec

log = logging.getLogger(__name__)
PASS_SECONDS = 3600.0
CHUNK = 5000

# Each statement deletes at most %(limit)s rows and says how many; run until it deletes fewer.
_SETTLED_EVENTS = """
DELETE FROM {schema}.outbox WHERE id IN (
    SELECT id FROM {schema}.outbox
    WHERE pipeline = %(pipeline)s AND status IN ('completed', 'failed')
      AND coalesce(completed_at, created_at) < now() - make_interval(secs => %(seconds)s)
    ORDER BY id LIMIT %(limit)s
)
"""
_REPLAYED_DEAD_LETTERS = """
DELETE FROM {schema}.dead_letter WHERE id IN (
    SELECT id FROM {schema}.dead_letter
    WHERE pipeline = %(pipeline)s AND replayed_at < now() - make_interval(secs => %(seconds)s)
    ORDER BY id LIMIT %(limit)s
)
"""
# A running pipeline says so; one whose word is older than the threshold is abandoned.
_SEEN = "UPDATE {schema}.outbox_subscriber SET updated_at = now() WHERE pipeline = %(pipeline)s"
_ABANDONED = """
SELECT pipeline FROM {schema}.outbox_subscriber
WHERE pipeline <> %(pipeline)s AND updated_at < now() - make_interval(secs => %(seconds)s)
ORDER BY pipeline
"""
_CAPTURE_TRIGGERS = """
SELECT n.nspname, c.relname FROM pg_trigger t
JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE t.tgname = %(trigger)s
"""
_EVENTS_OF = """
DELETE FROM {schema}.outbox WHERE id IN (
    SELECT id FROM {schema}.outbox WHERE pipeline = %(pipeline)s ORDER BY id LIMIT %(limit)s
)
"""
_FORGET = [
    "DELETE FROM {schema}.outbox_subscriber WHERE pipeline = %(pipeline)s",
    # A snapshotThenStream pipeline that comes back must read its source again: its stream has a hole.
    "DELETE FROM {schema}.checkpoint WHERE pipeline = %(pipeline)s",
]

# Cypher, the same text for Neo4j and FalkorDB. Tombstones written before they carried `at` get it now,
# so they too go once the retention has passed.
STAMP_TOMBSTONES: LiteralString = """
MATCH (t:GraphsyncTombstone) WHERE t.at IS NULL
WITH t LIMIT $limit
SET t.at = $now
RETURN count(t)
"""
DELETE_TOMBSTONES: LiteralString = """
MATCH (t:GraphsyncTombstone) WHERE t.at < $before
WITH t LIMIT $limit
DELETE t
RETURN count(t)
"""


@dataclass
class Pruned:
    """What one pass deleted."""

    events: int = 0
    dead_letters: int = 0
    tombstones: int = 0
    retired: tuple[str, ...] = ()


def prune(spec: PipelineSpec, *, now: float | None = None) -> Pruned:
    """One retention pass for this pipeline; idempotent."""
    pruned = Pruned()
    if spec.source.postgres is not None:
        with connect.postgres(spec.postgres, autocommit=True) as conn:
            if pg_schema.exists(conn, spec.postgres.schema_):
                _postgres(conn, spec, pruned)
    if spec.source.files is None:
        # A files pipeline's target holds no tombstones (removed files are deleted outright).
        with ExitStack() as stack:
            store = existing(graph_store(spec, stack))
            if store is not None:
                pruned.tombstones = _tombstones(store, spec, now or time.time())
    if pruned.events or pruned.dead_letters or pruned.tombstones or pruned.retired:
        log.info(
            "retention: deleted %d settled event(s), %d replayed dead letter(s), %d tombstone(s)%s",
            pruned.events,
            pruned.dead_letters,
            pruned.tombstones,
            f"; retired the capture of {', '.join(pruned.retired)}" if pruned.retired else "",
        )
    return pruned


def keep(spec: PipelineSpec, stop: threading.Event, every: float = PASS_SECONDS) -> threading.Thread:
    """A thread that runs a pass now and every `every` seconds until `stop` is set."""

    def loop() -> None:
        while not stop.is_set():
            try:
                prune(spec)
            except Exception as exc:  # noqa: BLE001 - retention waits for the next pass, the sync goes on
                log.warning("retention: pass failed, tried again in %.0fs: %s", every, exc)
            stop.wait(every)

    thread = threading.Thread(target=loop, name="retention", daemon=True)
    thread.start()
    return thread


def _postgres(conn: psycopg.Connection[Any], spec: PipelineSpec, pruned: Pruned) -> None:
    schema = spec.postgres.schema_
    settings, own = spec.retention, spec.identity
    pruned.events = _repeat(
        conn, schema, _SETTLED_EVENTS, {"pipeline": own, "seconds": settings.completed_events_seconds}
    )
    pruned.dead_letters = _repeat(
        conn, schema, _REPLAYED_DEAD_LETTERS, {"pipeline": own, "seconds": settings.replayed_dead_letters_seconds}
    )
    if spec.mode not in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM):
        return
    conn.execute(_sql(_SEEN, schema), {"pipeline": own})
    if settings.abandoned_capture_seconds is None:
        return
    rows = conn.execute(
        _sql(_ABANDONED, schema), {"pipeline": own, "seconds": settings.abandoned_capture_seconds}
    ).fetchall()
    pruned.retired = tuple(str(row[0]) for row in rows)
    for pipeline in pruned.retired:
        _retire(conn, schema, pipeline)


def _retire(conn: psycopg.Connection[Any], schema: str, pipeline: str) -> None:
    """Drop an abandoned pipeline's capture triggers, then its events, subscription and checkpoints."""
    trigger = trigger_name(pipeline)
    for table_schema, table in conn.execute(_CAPTURE_TRIGGERS, {"trigger": trigger}).fetchall():
        conn.execute(
            sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(
                sql.Identifier(trigger), sql.Identifier(table_schema, table)
            )
        )
    dropped = _repeat(conn, schema, _EVENTS_OF, {"pipeline": pipeline})
    for statement in _FORGET:
        conn.execute(_sql(statement, schema), {"pipeline": pipeline})
    log.warning(
        "retention: retired the capture of pipeline %r, not seen running within abandonedCaptureSeconds:"
        " %d unread event(s) dropped; if it comes back it captures again from then on",
        pipeline,
        dropped,
    )


def _tombstones(store: Store, spec: PipelineSpec, now: float) -> int:
    now_ms = int(now * 1000)
    repeat(store, STAMP_TOMBSTONES, {"now": now_ms})
    return repeat(store, DELETE_TOMBSTONES, {"before": now_ms - spec.retention.tombstones_seconds * 1000})


def _repeat(conn: psycopg.Connection[Any], schema: str, statement: str, params: dict[str, Any]) -> int:
    total = 0
    while True:
        deleted = conn.execute(_sql(statement, schema), {**params, "limit": CHUNK}).rowcount
        total += deleted
        if deleted < CHUNK:
            return total


def _sql(text: str, schema: str) -> sql.Composed:
    return sql.SQL(text).format(schema=sql.Identifier(identifiers.check(schema)))
