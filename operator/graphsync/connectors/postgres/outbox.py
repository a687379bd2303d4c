"""The transactional outbox: the publisher API, capture triggers, and queries over event status.

Applications call `publish` inside their own transaction, so the event exists
exactly when the data change does. Tables whose applications cannot change get
capture triggers instead (`install_capture`), which write the same events.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.spec import identifiers


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
ORDER BY id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Outbox:
    """The outbox of one source database; `schema` holds the engine's tables (see schema.py)."""

    schema: str = "graphsync"

    def __post_init__(self) -> None:
        identifiers.check(self.schema)

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

    def install_capture(self, conn: Conn, *, table: str, entity_type: str, key_columns: Sequence[str]) -> None:
        """Install (or replace) the capture trigger on `table`; idempotent."""
        identifiers.qualified(table)
        identifiers.check(entity_type)
        if not key_columns:
            raise ValueError(f"install_capture({table}): at least one key column is required")
        for column in key_columns:
            identifiers.check(column)
        target = sql.Identifier(*table.split("."))
        args = sql.SQL(", ").join(sql.Literal(value) for value in (entity_type, *key_columns))
        with conn.transaction():
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS graphsync_capture ON {}").format(target))
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER graphsync_capture AFTER INSERT OR UPDATE OR DELETE ON {table}"
                    " FOR EACH ROW EXECUTE FUNCTION {schema}.capture({args})"
                ).format(table=target, schema=sql.Identifier(self.schema), args=args)
            )

    def remove_capture(self, conn: Conn, *, table: str) -> None:
        identifiers.qualified(table)
        conn.execute(
            sql.SQL("DROP TRIGGER IF EXISTS graphsync_capture ON {}").format(sql.Identifier(*table.split(".")))
        )

    def counts(self, conn: Conn) -> dict[EventStatus, int]:
        rows = conn.execute(self._sql("SELECT status, count(*) FROM {schema}.outbox GROUP BY status")).fetchall()
        found = {EventStatus(status): int(n) for status, n in rows}
        return {status: found.get(status, 0) for status in EventStatus}

    def events(self, conn: Conn, *, status: EventStatus | None = None, limit: int = 100) -> list[OutboxEvent]:
        rows = conn.execute(
            self._sql(_EVENTS),
            {"status": status.value if status else None, "limit": limit},
        ).fetchall()
        return [_event(row) for row in rows]

    def entity_status(self, conn: Conn, *, entity_type: str, entity_id: Any) -> EntityStatus | None:
        row = conn.execute(
            self._sql(
                "SELECT status, version, synced_at, last_error FROM {schema}.entity_status"
                " WHERE entity_type = %s AND entity_key = %s"
            ),
            (entity_type, json.dumps(entity_id)),
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
WHERE id = ANY(%(ids)s) AND status <> 'completed'
"""

_FAIL = """
UPDATE {schema}.outbox SET status = 'failed', last_error = %(reason)s
WHERE id = %(id)s AND status <> 'completed'
"""

# The newest version decides an entity's status, whatever order settlements arrive in.
_ENTITY = """
INSERT INTO {schema}.entity_status AS s (entity_type, entity_key, status, version, synced_at, last_error)
VALUES (%(entity)s, %(key)s, %(status)s, %(version)s, CASE WHEN %(status)s = 'synced' THEN now() END, %(reason)s)
ON CONFLICT (entity_type, entity_key) DO UPDATE
SET status = EXCLUDED.status, version = EXCLUDED.version,
    synced_at = coalesce(EXCLUDED.synced_at, s.synced_at), last_error = EXCLUDED.last_error
WHERE s.version <= EXCLUDED.version
"""


def settle(conn: Conn, outbox: Outbox, applied: Sequence[Change], failed: Sequence[tuple[Change, str]]) -> None:
    """Record what the consumer did, after the target committed: events completed or failed, entity status."""
    completed = [int(c.origin) for c in applied if c.origin]
    with conn.transaction(), conn.cursor() as cur:
        if completed:
            cur.execute(outbox._sql(_COMPLETE), {"ids": completed})
        for change, reason in failed:
            if change.origin and change.origin.isdigit():
                cur.execute(outbox._sql(_FAIL), {"id": int(change.origin), "reason": reason})
        rows = [(c, "synced", None) for c in applied] + [(c, "failed", r) for c, r in failed]
        cur.executemany(
            outbox._sql(_ENTITY),
            [
                {"entity": c.entity, "key": json.dumps(c.key), "status": s, "version": c.version, "reason": r}
                for c, s, r in rows
            ],
        )
