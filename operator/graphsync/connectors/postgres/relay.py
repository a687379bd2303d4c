"""The relay: outbox rows -> Redis Streams, safe to run twice and to crash at any point.

A batch is claimed with `FOR UPDATE SKIP LOCKED` (two relays never take the same
rows), published, and marked `published` in the same transaction. A crash before
the commit leaves the rows pending, so they are published again; duplicates are
harmless because sinks are version-guarded. Rows published long ago but never
completed (Redis lost them, or trimmed them) are published again too.
"""

from __future__ import annotations

from typing import Any

import psycopg
import redis
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.connectors import streams
from graphsync.spec import identifiers

_CLAIM = """
SELECT id, entity_type, entity_key, operation, payload, coalesce(version, id), correlation_id
FROM {schema}.outbox
WHERE status = 'pending'
   OR (status = 'published' AND published_at < now() - make_interval(secs => %(redeliver)s))
ORDER BY id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED
"""

_MARK = """
UPDATE {schema}.outbox
SET status = 'published', published_at = now(), attempts = attempts + 1
WHERE id = ANY(%(ids)s)
"""


class Relay:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        client: redis.Redis,
        target: streams.Streams,
        *,
        schema: str = "graphsync",
        redeliver_after_seconds: float = 120.0,
        max_stream_length: int = 1_000_000,
    ) -> None:
        self._conn = conn
        self._client = client
        self._streams = target
        self._schema = sql.Identifier(identifiers.check(schema))
        self._redeliver = redeliver_after_seconds
        self._max_length = max_stream_length

    def run_once(self, limit: int = 1000) -> int:
        """Publish up to `limit` events; returns how many."""
        with self._conn.transaction():
            rows = self._conn.execute(
                sql.SQL(_CLAIM).format(schema=self._schema), {"redeliver": self._redeliver, "limit": limit}
            ).fetchall()
            if not rows:
                return 0
            streams.publish(self._client, self._streams, [_change(row) for row in rows], max_length=self._max_length)
            self._conn.execute(sql.SQL(_MARK).format(schema=self._schema), {"ids": [row[0] for row in rows]})
        return len(rows)


def _change(row: tuple[Any, ...]) -> Change:
    return Change(
        entity=row[1],
        key=row[2],
        op=Operation(row[3]),
        version=int(row[5]),
        data=row[4],
        correlation_id=row[6],
        origin=str(row[0]),
    )
