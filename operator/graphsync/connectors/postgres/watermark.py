"""The incremental scan: rows whose watermark column moved past the last position, with the edge read again.

A watermark is stamped when a row is written, but the row shows only when its transaction commits:
a transaction that stamps early and commits late lands behind rows already read, and a scan that
only moves forward never sees it. So the position kept (the checkpoint) stays behind a *horizon*,
the older of `now() - watermarkOverlapSeconds` and the start of the oldest transaction still open
(as far as pg_stat_activity shows it), and whenever the scan has caught up it reads once more from
there. What committed late is found then. A row read again unchanged is not sent again; one changed
under the same watermark (two updates within one tick of the clock) is, with the same version, which the
target takes (an incremental pipeline's sink lets a tie win: the later read is the newer state). A
watermark column of integers has no horizon: its scan only moves forward, so an update must move it.

A row whose watermark is NULL has no place in that order. It is skipped by the scan and refused
once per run with the reason (the dead-letter store says which rows), instead of stopping the scan.

Deletes are invisible to a watermark: use a change stream or a reconciliation run to catch them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation, version_of
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.tables import Table, page_query, row_sql, table_sql, tables_of
from graphsync.connectors.rescan import Position
from graphsync.connectors.rows import entity_id
from graphsync.runner.contracts import Batch, Rejection
from graphsync.spec.mapping import Mappings

_HORIZON = """
SELECT least(
    clock_timestamp() - make_interval(secs => %(overlap)s),
    (SELECT min(xact_start) FROM pg_stat_activity
     WHERE pid <> pg_backend_pid() AND backend_type = 'client backend' AND datname = current_database())
)
"""
_NULLS = "SELECT {row} FROM {table} AS t WHERE {column} IS NULL ORDER BY {key} LIMIT %s"
# The watermark column's type (a domain's base type) by oid and as SQL names it; no row when there is no such column.
_COLUMN_TYPE = """
SELECT coalesce(nullif(t.typbasetype, 0), a.atttypid)::int, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %(table)s::regclass AND a.attname = %(column)s AND a.attnum > 0 AND NOT a.attisdropped
"""
# What a version can be made of (change.version_of): smallint, integer, bigint, date, timestamp, timestamptz.
WATERMARK_TYPES = frozenset({21, 23, 20, 1082, 1114, 1184})
# Refused once per run and table, at most this many: enough to find them, not a flood of dead letters.
NULLS_REPORTED = 100


class WatermarkSource:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        mappings: Mappings,
        checkpoints: PostgresCheckpoints,
        *,
        column: str,
        overlap_seconds: float = 10.0,
    ) -> None:
        self._conn = conn
        self._tables = tables_of(mappings, column)
        self._checkpoints = checkpoints
        self._column = column
        self._overlap = overlap_seconds
        self._next = 0
        self._positions: dict[str, Position] = {}

    def prepare(self) -> None:
        for table in self._tables:
            self._check_column(table)
            saved = self._checkpoints.get(f"watermark:{table.entity}")
            self._positions[table.entity] = Position(cursor=saved, safe=saved)

    def _check_column(self, table: Table) -> None:
        """A watermark column that is missing or holds no timestamp or integer is refused before anything is
        read: every row of it would be refused, and the scan could not order them."""
        row = self._conn.execute(_COLUMN_TYPE, {"table": table.name, "column": self._column}).fetchone()
        self._conn.commit()
        if row is None:
            raise ValueError(f"source.postgres.watermarkColumn: table {table.name} has no column {self._column!r}")
        if int(row[0]) not in WATERMARK_TYPES:
            raise ValueError(
                f"source.postgres.watermarkColumn: column {self._column!r} of table {table.name} is {row[1]}; a"
                " watermark must be a timestamp, timestamptz, date, smallint, integer or bigint column (for"
                " example updated_at timestamptz NOT NULL DEFAULT now(), set by every write)"
            )

    def read(self, limit: int) -> Batch:
        # Round-robin over tables so one busy table cannot starve the others.
        for _ in range(len(self._tables)):
            table = self._tables[self._next % len(self._tables)]
            self._next += 1
            batch = self._read_table(table, limit)
            if batch.changes or batch.rejected:
                return batch
        return Batch(changes=[])

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        if batch.token is not None:
            entity, safe = batch.token
            if safe is not None:
                self._checkpoints.put(f"watermark:{entity}", safe)

    def close(self) -> None:
        self._conn.close()

    def _read_table(self, table: Table, limit: int) -> Batch:
        position = self._positions[table.entity]
        if not position.nulls_reported:
            position.nulls_reported = True
            refused = self._nulls(table)
            if refused:
                return Batch(changes=[], rejected=refused)
        order = (self._column, *table.key)
        while True:
            rows = self._page(table, order, position.cursor, limit)
            if not rows:
                position.rewind(self._overlap, version_of(position.safe[0]) if position.safe else None)
                return Batch(changes=[])
            horizon = self._horizon()
            changes, rejected = self._changes(table, rows, horizon, position)
            position.cursor = [_jsonable(v) for v in rows[-1][1:]]
            behind = [row for row in rows if horizon is None or _before(row[1], horizon)]
            if behind:
                position.safe = [_jsonable(v) for v in behind[-1][1:]]
            # A page of rows all read again unchanged: on to the next, so that a run to idle reads to the end.
            if changes or rejected:
                return Batch(changes=changes, rejected=rejected, token=(table.entity, position.safe))

    def _changes(
        self, table: Table, rows: list[Any], horizon: datetime | None, position: Position
    ) -> tuple[list[Change], list[Rejection]]:
        changes: list[Change] = []
        rejected: list[Rejection] = []
        for row in rows:
            change = Change(
                entity=table.entity, key=table.key_value(row[0]), op=Operation.UPSERT, version=0, data=row[0]
            )
            try:
                change = dataclasses.replace(change, version=version_of(row[1]))
            except ValueError as exc:
                rejected.append(Rejection(change, f"{self._column}: {exc}"))
                continue
            ahead = horizon is not None and not _before(row[1], horizon)
            if position.read_again_unchanged(entity_id(change.entity, change.key), change.version, row[0], ahead=ahead):
                continue
            changes.append(change)
        return changes, rejected

    def _page(self, table: Table, order: Sequence[str], after: list[Any] | None, limit: int) -> list[Any]:
        rows = self._conn.execute(
            page_query(table, order, after is not None, skip_nulls=True), [*(after or []), limit]
        ).fetchall()
        self._conn.commit()
        return rows

    def _nulls(self, table: Table) -> list[Rejection]:
        query = sql.SQL(_NULLS).format(
            row=row_sql(table.columns),
            table=table_sql(table.name),
            column=sql.Identifier(self._column),
            key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
        )
        rows = self._conn.execute(query, [NULLS_REPORTED]).fetchall()
        self._conn.commit()
        reason = f"{self._column} is NULL: the row has no place in the scan and is not synced until it has a value"
        return [
            Rejection(
                Change(entity=table.entity, key=table.key_value(r[0]), op=Operation.UPSERT, version=0, data=r[0]),
                reason,
            )
            for r in rows
        ]

    def _horizon(self) -> datetime | None:
        row = self._conn.execute(_HORIZON, {"overlap": self._overlap}).fetchone()
        self._conn.commit()
        return row[0] if row else None


def _before(value: Any, horizon: datetime) -> bool:
    """Whether a watermark lies behind the horizon; an integer watermark always does (it has no horizon)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            return value < horizon.replace(tzinfo=None)
        return value < horizon
    if isinstance(value, date):
        return value < horizon.date()
    return True


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value
