"""The relay: outbox rows -> Redis Streams, safe to run twice and to crash at any point.

A batch is claimed with `FOR UPDATE SKIP LOCKED` (two relays never take the same
rows), published, and marked `published` in the same transaction. A crash before
the commit leaves the rows pending, so they are published again; duplicates are
harmless because sinks are version-guarded. Rows published long ago but never
completed (Redis lost them, or trimmed them) are published again too.

Each relay takes only its own pipeline's events. An event of no pipeline (one
the application published, or one written before pipelines were recorded) is
first fanned out: moved, in one statement, into a copy per streaming pipeline
that maps its entity type (`outbox_subscriber`), keeping its version (its
original id when it had none, so the order of one entity's events stands). Any
relay may do it for all; `SKIP LOCKED` keeps two from copying one event twice.
An event whose entity type no pipeline maps waits until one does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import psycopg
import redis
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.connectors.postgres.columns import Columns
from graphsync.connectors.redis import streams
from graphsync.spec import identifiers

_FAN_OUT = """
WITH taken AS (
    DELETE FROM {schema}.outbox
    WHERE id IN (
        SELECT o.id FROM {schema}.outbox AS o
        WHERE o.pipeline IS NULL AND o.status IN ('pending', 'published')
          AND EXISTS (SELECT 1 FROM {schema}.outbox_subscriber AS s WHERE o.entity_type = ANY(s.entity_types))
        ORDER BY o.id
        LIMIT %(limit)s
        FOR UPDATE SKIP LOCKED
    )
    RETURNING id, entity_type, entity_key, operation, payload, version, correlation_id, created_at
)
INSERT INTO {schema}.outbox (pipeline, entity_type, entity_key, operation, payload, version, correlation_id, created_at)
SELECT s.pipeline, t.entity_type, t.entity_key, t.operation, t.payload, coalesce(t.version, t.id), t.correlation_id,
       t.created_at
FROM taken AS t JOIN {schema}.outbox_subscriber AS s ON t.entity_type = ANY(s.entity_types)
ORDER BY t.id, s.pipeline
"""

_CLAIM = """
SELECT id, entity_type, entity_key, operation, payload, coalesce(version, id), correlation_id
FROM {schema}.outbox
WHERE pipeline = %(pipeline)s
  AND (status = 'pending'
       OR (%(stale)s AND status = 'published' AND published_at < now() - make_interval(secs => %(redeliver)s)))
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
        pipeline: str,
        schema: str = "graphsync",
        columns: Mapping[str, Columns] | None = None,
        redeliver_after_seconds: float = 120.0,
        max_stream_length: int = 1_000_000,
        group: str | None = None,
    ) -> None:
        """`columns`: per entity type, what may leave the database; an application's payload is cut to it
        too (a trigger's already is). Without it, payloads travel as they are.

        `group`: the consumer group reading the streams. Events published long ago and never completed are
        published again only once it has drained the streams (see `streams.drained`): during a long target
        outage the consumer holds them all, and republishing the backlog every `redeliver_after_seconds`
        would grow the streams without bound. Without a group, they are published again in any case."""
        self._conn = conn
        self._pipeline = pipeline
        self._columns = columns
        self._client = client
        self._streams = target
        self._schema = sql.Identifier(identifiers.check(schema))
        self._redeliver = redeliver_after_seconds
        self._max_length = max_stream_length
        self._group = group

    def run_once(self, limit: int = 1000) -> int:
        """Publish up to `limit` events; returns how many."""
        with self._conn.transaction():
            self._conn.execute(sql.SQL(_FAN_OUT).format(schema=self._schema), {"limit": limit})
            rows = self._conn.execute(
                sql.SQL(_CLAIM).format(schema=self._schema),
                {"pipeline": self._pipeline, "redeliver": self._redeliver, "stale": self._stale(), "limit": limit},
            ).fetchall()
            if not rows:
                return 0
            changes = [_change(row, self._columns) for row in rows]
            streams.publish(self._client, self._streams, changes, max_length=self._max_length)
            self._conn.execute(sql.SQL(_MARK).format(schema=self._schema), {"ids": [row[0] for row in rows]})
        return len(rows)

    def _stale(self) -> bool:
        """Whether events published long ago may be published again now. Asked afresh every time (one XINFO
        per partition): a stale answer could skip the one pass in which the group had just drained."""
        return self._group is None or streams.drained(self._client, self._streams, self._group)


def _change(row: tuple[Any, ...], columns: Mapping[str, Columns] | None) -> Change:
    data = row[4]
    if columns is not None:
        # An entity type the pipeline does not map carries nothing but its key: the sink refuses it anyway.
        data = columns[row[1]].apply(data) if row[1] in columns else {}
    return Change(
        entity=row[1],
        key=row[2],
        op=Operation(row[3]),
        version=int(row[5]),
        data=data,
        correlation_id=row[6],
        origin=str(row[0]),
    )
