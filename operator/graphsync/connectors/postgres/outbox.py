"""The transactional outbox: the publisher API, capture triggers, and queries over event status.

Applications call `publish` inside their own transaction, so the event exists
exactly when the data change does. Tables whose applications cannot change get
capture triggers instead (`install_capture`), which write the same events.

Several pipelines can read one table (one into Neo4j, one into FalkorDB, say), so
each event belongs to one pipeline: each pipeline has its own trigger on a table,
named from its identity, writing rows tagged with it and carrying only the columns
it maps. An application publishes once, not knowing the pipelines: its event has no
pipeline until a relay fans it out, copying it once to every streaming pipeline
that maps its entity type (relay.py).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.connectors.postgres.columns import EVERY_COLUMN, Columns
from graphsync.spec import identifiers

# What releases before per-pipeline capture named their one trigger per table.
LEGACY_TRIGGER = "graphsync_capture"
TRIGGER_PREFIX = "graphsync_capture_"


class EventStatus(enum.StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class OutboxEvent:
    id: int
    entity_type: str
    entity_key: Any
    operation: Operation
    payload: dict[str, Any]
    version: int
    correlation_id: str | None
    status: EventStatus
    attempts: int
    last_error: str | None
    created_at: datetime


@dataclass(frozen=True)
class EntityStatus:
    status: str
    version: int
    synced_at: datetime | None
    last_error: str | None


Conn = psycopg.Connection[Any]

_EVENTS = """
SELECT id, entity_type, entity_key, operation, payload, coalesce(version, id), correlation_id,
       status, attempts, last_error, created_at
FROM {schema}.outbox
WHERE (%(status)s::text IS NULL OR status = %(status)s)
  AND (%(pipeline)s::text IS NULL OR pipeline = %(pipeline)s OR pipeline IS NULL)
ORDER BY id DESC
LIMIT %(limit)s
"""

_COUNTS = """
SELECT status, count(*) FROM {schema}.outbox
WHERE %(pipeline)s::text IS NULL OR pipeline = %(pipeline)s OR pipeline IS NULL
GROUP BY status
"""

_ENTITY_STATUS = """
SELECT status, version, synced_at, last_error FROM {schema}.entity_status
WHERE entity_type = %(entity)s AND entity_key = %(key)s AND (%(pipeline)s::text IS NULL OR pipeline = %(pipeline)s)
ORDER BY version DESC
LIMIT 1
"""

_TRIGGER_EXISTS = "SELECT 1 FROM pg_trigger WHERE tgrelid = to_regclass(%(table)s) AND tgname = %(name)s"

_SUBSCRIBE = """
INSERT INTO {schema}.outbox_subscriber (pipeline, entity_types) VALUES (%(pipeline)s, %(entities)s)
ON CONFLICT (pipeline) DO UPDATE SET entity_types = EXCLUDED.entity_types, updated_at = now()
"""


def trigger_name(pipeline: str) -> str:
    """The capture trigger of one pipeline: a short stable hash of its identity, as SQL names end at 63 bytes.

    48 bits make a clash between two pipelines of one table unlikely beyond concern; the trigger's
    first argument and its comment hold the identity itself, for cleanup and for people inspecting the table.
    """
    return TRIGGER_PREFIX + hashlib.sha256(pipeline.encode()).hexdigest()[:12]


def capture_arguments(pipeline: str, entity_type: str, key_columns: Sequence[str], columns: Columns) -> list[str]:
    """The trigger's arguments, in the order `pipeline_capture` (schema.py) reads them."""
    how, listed = columns.listing()
    return [pipeline, entity_type, how, str(len(key_columns)), *key_columns, *listed]


@dataclass(frozen=True)
class Outbox:
    """The outbox of one source database; `schema` holds the engine's tables (see schema.py).

    With a `pipeline` (its identity), capture, status and counts are that pipeline's (events of no
    pipeline, not fanned out yet, count for every one); without, `publish` and the totals.
    """

    schema: str = "graphsync"
    pipeline: str | None = None

    def __post_init__(self) -> None:
        identifiers.check(self.schema)

    def _own(self) -> str:
        if self.pipeline is None:
            raise ValueError("this outbox operation belongs to a pipeline: Outbox(schema, pipeline=identity)")
        return self.pipeline

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=sql.Identifier(self.schema))

    def publish(
        self,
        conn: Conn,
        *,
        entity_type: str,
        entity_id: Any,
        operation: Operation | str,
        payload: dict[str, Any] | None = None,
        version: int | None = None,
        correlation_id: str | None = None,
    ) -> int:
        """Record a change event in the caller's transaction; returns the event id.

        Without `version`, the event id is the version: ids of one entity's events
        grow with commit order because the application holds the row's lock.
        The event has no pipeline: a relay moves it into one copy per pipeline that
        maps `entity_type` (relay.py), keeping version and `correlation_id`, so the
        id names it only until then; follow it by correlation id or entity status.
        """
        identifiers.check(entity_type)
        op = Operation(operation)
        row = conn.execute(
            self._sql(
                "INSERT INTO {schema}.outbox (entity_type, entity_key, operation, payload, version, correlation_id)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
            ),
            (entity_type, json.dumps(entity_id), op.value, json.dumps(payload or {}), version, correlation_id),
        ).fetchone()
        assert row is not None
        return int(row[0])

    def install_capture(
        self,
        conn: Conn,
        *,
        table: str,
        entity_type: str,
        key_columns: Sequence[str],
        columns: Columns = EVERY_COLUMN,
    ) -> None:
        """Install (or replace) this pipeline's capture trigger on `table`; idempotent.

        Other pipelines' triggers on the table stay; a legacy `graphsync_capture` trigger goes, as this
        one takes over its work (its pending events are fanned out, see schema.py).
        """
        pipeline = self._own()
        identifiers.qualified(table)
        identifiers.check(entity_type)
        if not key_columns:
            raise ValueError(f"install_capture({table}): at least one key column is required")
        for column in key_columns:
            identifiers.check(column)
        target = sql.Identifier(*table.split("."))
        name = sql.Identifier(trigger_name(pipeline))
        arguments = capture_arguments(pipeline, entity_type, key_columns, columns)
        args = sql.SQL(", ").join(sql.Literal(value) for value in arguments)
        with conn.transaction():
            # SHARE ROW EXCLUSIVE conflicts with itself: one installer per table at a time, so none holds a lock
            # another waits to upgrade (the lock CREATE TRIGGER takes anyway, and writers only queue behind it).
            conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(target))
            legacy = conn.execute(_TRIGGER_EXISTS, {"table": target.as_string(conn), "name": LEGACY_TRIGGER})
            if legacy.fetchone() is not None:
                conn.execute(sql.SQL("DROP TRIGGER {} ON {}").format(sql.Identifier(LEGACY_TRIGGER), target))
            conn.execute(
                sql.SQL(
                    "CREATE OR REPLACE TRIGGER {name} AFTER INSERT OR UPDATE OR DELETE ON {table}"
                    " FOR EACH ROW EXECUTE FUNCTION {schema}.pipeline_capture({args})"
                ).format(name=name, table=target, schema=sql.Identifier(self.schema), args=args)
            )
            conn.execute(
                sql.SQL("COMMENT ON TRIGGER {name} ON {table} IS {comment}").format(
                    name=name, table=target, comment=sql.Literal(f"graphsync capture of pipeline {pipeline}")
                )
            )

    def remove_capture(self, conn: Conn, *, table: str, legacy: bool = False) -> None:
        """Drop this pipeline's trigger on `table` (or, `legacy`, the one trigger of older releases)."""
        identifiers.qualified(table)
        name = LEGACY_TRIGGER if legacy else trigger_name(self._own())
        target = sql.Identifier(*table.split("."))
        # Looked up first: DROP TRIGGER locks the table ACCESS EXCLUSIVE even when there is nothing to drop,
        # and a worker of a pipeline without triggers asks at every start.
        if conn.execute(_TRIGGER_EXISTS, {"table": target.as_string(conn), "name": name}).fetchone() is not None:
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(name), target))

    def subscribe(self, conn: Conn, entity_types: Sequence[str]) -> None:
        """Record that this pipeline streams these entity types: events of no pipeline are copied to it."""
        for entity in entity_types:
            identifiers.check(entity)
        conn.execute(self._sql(_SUBSCRIBE), {"pipeline": self._own(), "entities": list(entity_types)})

    def unsubscribe(self, conn: Conn) -> None:
        """This pipeline streams no more: events of no pipeline are no longer copied to it."""
        conn.execute(
            self._sql("DELETE FROM {schema}.outbox_subscriber WHERE pipeline = %(pipeline)s"), {"pipeline": self._own()}
        )

    def skip(self, conn: Conn, ids: Sequence[int], reason: str) -> None:
        """Mark this pipeline's events `ids` completed without applying them (a checkpoint reset passed over
        them), `reason` kept as their last error: the relay never publishes them again."""
        if ids:
            conn.execute(self._sql(_SKIP), {"ids": list(ids), "pipeline": self._own(), "reason": reason})

    def newest(self, conn: Conn) -> int:
        """The id of this pipeline's newest event (0 for none)."""
        row = conn.execute(self._sql(_NEWEST), {"pipeline": self._own()}).fetchone()
        return int(row[0]) if row else 0

    def settled_through(self, conn: Conn, newest: int) -> bool:
        """Whether every event of this pipeline up to id `newest` was applied or dead-lettered."""
        row = conn.execute(self._sql(_SETTLED), {"pipeline": self._own(), "newest": newest}).fetchone()
        return bool(row and row[0])

    def counts(self, conn: Conn) -> dict[EventStatus, int]:
        rows = conn.execute(self._sql(_COUNTS), {"pipeline": self.pipeline}).fetchall()
        found = {EventStatus(status): int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in EventStatus}

    def events(self, conn: Conn, *, status: EventStatus | None = None, limit: int = 100) -> list[OutboxEvent]:
        rows = conn.execute(
            self._sql(_EVENTS),
            {"status": status.value if status else None, "limit": limit, "pipeline": self.pipeline},
        ).fetchall()
        return [_event(row) for row in rows]

    def entity_status(self, conn: Conn, *, entity_type: str, entity_id: Any) -> EntityStatus | None:
        row = conn.execute(
            self._sql(_ENTITY_STATUS),
            {"entity": entity_type, "key": json.dumps(entity_id), "pipeline": self.pipeline},
        ).fetchone()
        return EntityStatus(row[0], int(row[1]), row[2], row[3]) if row else None


def _event(row: Sequence[Any]) -> OutboxEvent:
    return OutboxEvent(
        id=int(row[0]),
        entity_type=row[1],
        entity_key=row[2],
        operation=Operation(row[3]),
        payload=row[4],
        version=int(row[5]),
        correlation_id=row[6],
        status=EventStatus(row[7]),
        attempts=int(row[8]),
        last_error=row[9],
        created_at=row[10],
    )


_COMPLETE = """
UPDATE {schema}.outbox SET status = 'completed', completed_at = now(), last_error = NULL
WHERE id = ANY(%(ids)s) AND pipeline = %(pipeline)s AND status <> 'completed'
"""

_NEWEST = "SELECT coalesce(max(id), 0) FROM {schema}.outbox WHERE pipeline = %(pipeline)s"
_SETTLED = """
SELECT NOT EXISTS (
    SELECT 1 FROM {schema}.outbox
    WHERE pipeline = %(pipeline)s AND id <= %(newest)s AND status IN ('pending', 'published')
)
"""

_SKIP = """
UPDATE {schema}.outbox SET status = 'completed', completed_at = now(), last_error = %(reason)s
WHERE id = ANY(%(ids)s) AND pipeline = %(pipeline)s AND status <> 'completed'
"""

_FAIL = """
UPDATE {schema}.outbox SET status = 'failed', last_error = %(reason)s
WHERE id = %(id)s AND pipeline = %(pipeline)s AND status <> 'completed'
"""

# The newest version decides an entity's status, whatever order settlements arrive in.
_ENTITY = """
INSERT INTO {schema}.entity_status AS s (pipeline, entity_type, entity_key, status, version, synced_at, last_error)
VALUES (%(pipeline)s, %(entity)s, %(key)s, %(status)s, %(version)s, CASE WHEN %(status)s = 'synced' THEN now() END,
        %(reason)s)
ON CONFLICT (pipeline, entity_type, entity_key) DO UPDATE
SET status = EXCLUDED.status, version = EXCLUDED.version,
    synced_at = coalesce(EXCLUDED.synced_at, s.synced_at), last_error = EXCLUDED.last_error
WHERE s.version <= EXCLUDED.version
"""


def settle(conn: Conn, outbox: Outbox, applied: Sequence[Change], failed: Sequence[tuple[Change, str]]) -> None:
    """Record what the consumer did, after the target committed: events completed or failed, entity status.

    Only the outbox's own pipeline's events and statuses: another pipeline reading the same table settles its own.
    """
    pipeline = outbox._own()
    completed = [int(c.origin) for c in applied if c.origin and c.origin.isdigit()]
    with conn.transaction(), conn.cursor() as cur:
        if completed:
            cur.execute(outbox._sql(_COMPLETE), {"ids": completed, "pipeline": pipeline})
        for change, reason in failed:
            if change.origin and change.origin.isdigit():
                cur.execute(outbox._sql(_FAIL), {"id": int(change.origin), "reason": reason, "pipeline": pipeline})
        rows = [(c, "synced", None) for c in applied] + [(c, "failed", r) for c, r in failed]
        cur.executemany(
            outbox._sql(_ENTITY),
            [
                {
                    "pipeline": pipeline,
                    "entity": c.entity,
                    "key": json.dumps(c.key),
                    "status": s,
                    "version": c.version,
                    "reason": r,
                }
                for c, s, r in rows
            ],
        )
