"""The dead-letter store in the source database: poison records with their reason, listable and replayable.

Replaying puts a record back into the outbox as a new pending event of its own
pipeline with its original version, so it takes the normal path (relay, consumer,
version guard) of that pipeline alone: another pipeline reading the same tables
never sees it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from graphsync.runner.contracts import DeadLetter, Rejection
from graphsync.spec import identifiers

_RECORD = """
INSERT INTO {schema}.dead_letter
    (pipeline, entity_type, entity_key, operation, payload, version, origin, reason, attempts)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""

_LIST = """
SELECT id, entity_type, entity_key, operation, payload, version, origin, reason, attempts, failed_at, replayed_at
FROM {schema}.dead_letter
WHERE pipeline = %(pipeline)s AND (%(all)s OR replayed_at IS NULL)
ORDER BY id
LIMIT %(limit)s
"""

# Entities whose newer state the target refused and nobody replayed yet: a sweep must not take them for gone.
_REFUSED_UPSERTS = """
SELECT DISTINCT entity_type, entity_key FROM {schema}.dead_letter
WHERE pipeline = %(pipeline)s AND replayed_at IS NULL AND operation = 'upsert'
"""

_MARK_REPLAYED = """
UPDATE {schema}.dead_letter SET replayed_at = now()
WHERE pipeline = %(pipeline)s AND replayed_at IS NULL AND id = ANY(%(ids)s)
"""

_COUNT = """
SELECT count(*) FROM {schema}.dead_letter WHERE pipeline = %(pipeline)s AND replayed_at IS NULL
"""

_REPLAY = """
WITH chosen AS (
    UPDATE {schema}.dead_letter SET replayed_at = now()
    WHERE pipeline = %(pipeline)s AND replayed_at IS NULL AND (%(ids)s::bigint[] IS NULL OR id = ANY(%(ids)s))
    RETURNING entity_type, entity_key, operation, payload, version
)
INSERT INTO {schema}.outbox (pipeline, entity_type, entity_key, operation, payload, version)
SELECT %(pipeline)s, entity_type, entity_key, operation, payload, version FROM chosen
"""


class PostgresDeadLetters:
    def __init__(self, conn: psycopg.Connection[Any], *, pipeline: str, schema: str = "graphsync") -> None:
        self._conn = conn
        self._pipeline = pipeline
        self._schema = sql.Identifier(identifiers.check(schema))

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=self._schema)

    def record(self, rejections: Sequence[Rejection]) -> None:
        with self._conn.transaction(), self._conn.cursor() as cur:
            cur.executemany(
                self._sql(_RECORD),
                [
                    (
                        self._pipeline,
                        r.change.entity,
                        json.dumps(r.change.key, default=str),
                        r.change.op.value,
                        json.dumps(dict(r.change.data), default=str),
                        r.change.version,
                        r.change.origin,
                        r.reason,
                        r.attempts,
                    )
                    for r in rejections
                ],
            )

    def list(self, *, include_replayed: bool = False, limit: int = 100) -> list[DeadLetter]:
        rows = self._conn.execute(
            self._sql(_LIST), {"pipeline": self._pipeline, "all": include_replayed, "limit": limit}
        ).fetchall()
        return [
            DeadLetter(int(r[0]), r[1], r[2], r[3], r[4], int(r[5]), r[6], r[7], int(r[8]), r[9], r[10]) for r in rows
        ]

    def refused_upserts(self) -> dict[str, Sequence[Any]]:
        """Keys by entity type of the upserts not replayed yet."""
        rows = self._conn.execute(self._sql(_REFUSED_UPSERTS), {"pipeline": self._pipeline}).fetchall()
        return {entity: [key for kind, key in rows if kind == entity] for entity in {str(row[0]) for row in rows}}

    def count(self) -> int:
        """Records not replayed yet."""
        row = self._conn.execute(self._sql(_COUNT), {"pipeline": self._pipeline}).fetchone()
        return int(row[0]) if row else 0

    def mark_replayed(self, ids: Sequence[int]) -> None:
        """Records applied some other way than through the outbox (see `commands.deadletter`)."""
        if ids:
            self._conn.execute(self._sql(_MARK_REPLAYED), {"pipeline": self._pipeline, "ids": list(ids)})

    def replay(self, ids: Sequence[int] | None = None) -> int:
        """Send records (all open ones, or those with `ids`) back through the outbox; returns how many."""
        with self._conn.transaction():
            cur = self._conn.execute(
                self._sql(_REPLAY), {"pipeline": self._pipeline, "ids": list(ids) if ids else None}
            )
            return cur.rowcount
