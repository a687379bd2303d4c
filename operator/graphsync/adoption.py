"""State a SyncPipeline kept under its bare name, before identities had namespaces, taken over by its identity.

Until identities were `namespace.name`, a SyncPipeline's checkpoints, dead letters, ledger, conflicts, Redis
streams and keys, files documents and reconciliation records were named by `metadata.name` alone. On its
first start under the new identity a pipeline adopts that state, so an upgrade neither re-reads a source
nor forgets a dead letter. Adoption moves state only when none exists under the identity yet, and each
move is atomic (one transaction, RENAMENX, one statement per chunk), so two pipelines of one name in two
namespaces (which shared that state before) cannot both take it: the first to start does, the other
starts afresh (a snapshot reads its source again; a stream of changes starts from its backlog).
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from typing import Any, LiteralString

import psycopg
import redis
from psycopg import sql

from graphsync import connect, shapes, stores
from graphsync.cleanup.keys import key_pattern, key_prefix
from graphsync.cleanup.targets import repeat
from graphsync.connectors.graphs.reading import Store
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.tables import tables_of
from graphsync.reconcile.pipeline import audit_store, existing, graph_store
from graphsync.spec import identifiers
from graphsync.spec.pipeline import Mode, PipelineSpec

log = logging.getLogger(__name__)
SHAPES = shapes.PREFIX + "%"

# The engine's tables whose rows carry the pipeline they belong to.
_PIPELINE_TABLES = ("checkpoint", "dead_letter", "ledger", "conflict", "outbox", "entity_status")
# The tables' shapes a run notes before adoption (`graphsync.shapes`) are no state of the pipeline's to keep.
_HAS_STATE = """
SELECT EXISTS (SELECT 1 FROM {schema}.checkpoint WHERE pipeline = %(new)s AND name NOT LIKE %(shapes)s)
"""
_DROP_SHAPES = "DELETE FROM {schema}.checkpoint WHERE pipeline = %(new)s AND name LIKE %(shapes)s"
_MOVE = "UPDATE {schema}.{table} SET pipeline = %(new)s WHERE pipeline = %(old)s"

# Cypher, the same text for Neo4j and FalkorDB; each returns how many records it moved (at most $limit, run by
# `repeat` until it moves no more).
MOVE_DOCUMENTS: LiteralString = """
MATCH (d:GraphsyncDocument) WHERE d.id STARTS WITH $old
WITH d LIMIT $limit
SET d.id = $new + substring(d.id, size($old))
RETURN count(d)
"""
MOVE_FILES_CHECKPOINT: LiteralString = """
OPTIONAL MATCH (taken:GraphsyncCheckpoint {id: $new})
WITH taken WHERE taken IS NULL
MATCH (c:GraphsyncCheckpoint {id: $old})
SET c.id = $new
RETURN count(c)
"""
MOVE_AUDIT_RUNS: LiteralString = """
MATCH (r:GraphsyncReconciliation) WHERE r.pipeline = $old
WITH r LIMIT $limit
SET r.pipeline = $new
RETURN count(r)
"""


def legacy_name(spec: PipelineSpec) -> str | None:
    """The name the pipeline's state may still be kept under, or None when the identity is the name."""
    return spec.name if spec.identity != spec.name else None


def postgres_state(conn: psycopg.Connection[Any], schema: str, *, old: str, new: str) -> int:
    """Move the engine tables' rows of `old` to `new` unless `new` has state already; returns rows moved."""
    name = sql.Identifier(identifiers.check(schema))
    moved = 0
    with conn.transaction():
        # Two workers (or two pipelines of one name) starting at once must not both move the rows.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('graphsync.adopt'), hashtext(%s))", (old,))
        row = conn.execute(sql.SQL(_HAS_STATE).format(schema=name), {"new": new, "shapes": SHAPES}).fetchone()
        if row is not None and row[0]:
            return 0
        # The shapes kept under the bare name come with the rest.
        conn.execute(sql.SQL(_DROP_SHAPES).format(schema=name), {"new": new, "shapes": SHAPES})
        for table in _PIPELINE_TABLES:
            statement = sql.SQL(_MOVE).format(schema=name, table=sql.Identifier(table))
            moved += conn.execute(statement, {"old": old, "new": new}).rowcount
    if moved:
        log.info("adopted %d row(s) of state kept under %r as %r", moved, old, new)
    return moved


def redis_keys(client: redis.Redis, *, old: str, new: str) -> int:
    """Rename every key under `old`'s prefix to `new`'s; a key `new` already has stays as it is.

    Streams keep their entries: the identity's consumer group, created from the start of each stream,
    reads them again, which converges as any redelivery does.
    """
    prefix, moved = key_prefix(old), 0
    for key in sorted({str(k) for k in client.scan_iter(match=key_pattern(old), count=1000)}):
        if key.startswith(prefix) and client.renamenx(key, key_prefix(new) + key[len(prefix) :]):
            moved += 1
    if moved:
        log.info("adopted %d Redis key(s) kept under %r as %r", moved, old, new)
    return moved


def target_records(documents: Store | None, audit: Store | None, *, old: str, new: str) -> int:
    """Files documents and position (in the target graph), reconciliation records (in their audit graph)."""
    moved = 0
    if documents is not None:
        moved += repeat(documents, MOVE_DOCUMENTS, {"old": f"{old}:", "new": f"{new}:"})
        rows = documents.write(MOVE_FILES_CHECKPOINT, {"old": f"{old}:files", "new": f"{new}:files"})
        moved += int(rows[0][0]) if rows else 0
    if audit is not None:
        moved += repeat(audit, MOVE_AUDIT_RUNS, {"old": old, "new": new})
    if moved:
        log.info("adopted %d record(s) of the target kept under %r as %r", moved, old, new)
    return moved


def adopt(spec: PipelineSpec) -> None:
    """Take over, for this pipeline's identity, whatever state its bare name still holds; idempotent."""
    old = legacy_name(spec)
    if old is None:
        return
    new = spec.identity
    with ExitStack() as stack:
        if spec.source.postgres is not None:
            conn = stack.enter_context(connect.postgres(spec.postgres, autocommit=True))
            if pg_schema.exists(conn, spec.postgres.schema_):
                postgres_state(conn, spec.postgres.schema_, old=old, new=new)
                _retire_capture(conn, spec, old)
        if spec.transport is not None:
            client = stack.enter_context(connect.redis_client(spec.redis_streams))
            redis_keys(client, old=old, new=new)
        if spec.source.graph is not None and stores.falkordb_server(spec) is not None:
            state = stores.state_client(spec)
            stack.callback(state.close)
            redis_keys(state, old=old, new=new)
        documents = graph_store(spec, stack) if spec.source.files is not None else None
        target_records(existing(documents), existing(audit_store(spec, stack)), old=old, new=new)


def _retire_capture(conn: psycopg.Connection[Any], spec: PipelineSpec, old: str) -> None:
    """The bare name's capture triggers and subscription: left in place they would go on writing events (and
    copies of the application's) for a pipeline nobody runs any more. The identity's own are installed."""
    if spec.mode not in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM):
        return
    outbox = Outbox(spec.postgres.schema_, pipeline=old)
    for table in tables_of(spec.mapped):
        outbox.remove_capture(conn, table=table.name)
    outbox.unsubscribe(conn)
