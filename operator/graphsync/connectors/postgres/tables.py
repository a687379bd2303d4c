"""Reading mapped tables directly: the chunked, resumable snapshot (the incremental scan: watermark.py).

Rows are read as `to_jsonb(row)` cut down to the mapped columns (columns.py), the
same representation the capture triggers publish, so a row looks identical
whichever path brought it, and an unmapped column never leaves the database. Paging is by keyset
(`WHERE (key) > (last key)`), never OFFSET, so each chunk costs the same however
deep the scan is, and the position is a small checkpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.columns import EVERY_COLUMN, Columns, node_columns, relationship_columns
from graphsync.runner import snapshots
from graphsync.runner.contracts import Batch, Rejection
from graphsync.spec import identifiers
from graphsync.spec.mapping import Mappings


@dataclass(frozen=True)
class Table:
    entity: str
    name: str
    key: tuple[str, ...]
    columns: Columns = EVERY_COLUMN

    def key_value(self, doc: dict[str, Any]) -> Any:
        values = [doc.get(column) for column in self.key]
        return values[0] if len(values) == 1 else values


def tables_of(mappings: Mappings, watermark: str | None = None) -> list[Table]:
    """Node tables first, so relationship endpoints usually exist before their relationships."""
    nodes = [Table(m.name, m.source_table, (m.key,), node_columns(m, watermark)) for m in mappings.nodes]
    rels = [
        Table(r.name, r.source_table, tuple(r.key), relationship_columns(r, watermark)) for r in mappings.relationships
    ]
    return nodes + rels


def row_sql(columns: Columns) -> sql.Composed:
    """The mapped columns of the row `t` as jsonb: the same cut as the triggers' `project` (schema.py)."""
    how, listed = columns.listing()
    names = sql.SQL("ARRAY[{}]::text[]").format(sql.SQL(", ").join(sql.Literal(c) for c in listed))
    if how == "drop":
        return sql.SQL("to_jsonb(t) - {names}").format(names=names)
    return sql.SQL(
        "coalesce((SELECT jsonb_object_agg(e.k, e.v) FROM jsonb_each(to_jsonb(t)) AS e(k, v) WHERE e.k = ANY({names})),"
        " '{{}}'::jsonb)"
    ).format(names=names)


def table_sql(name: str) -> sql.Identifier:
    """A mapped table's name as an identifier, schema-qualified when it is."""
    return sql.Identifier(*identifiers.qualified(name).split("."))


def _columns(columns: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns)


def _placeholders(count: int) -> sql.Composable:
    return sql.SQL(", ").join(sql.Placeholder() * count)


def page_query(table: Table, order: Sequence[str], after: bool, *, skip_nulls: bool = False) -> sql.Composed:
    """SELECT the next page ordered by `order` columns, after a position when `after`. `skip_nulls`: leave out
    rows whose first order column is NULL (a watermark's: they have no place in that order)."""
    conditions = [sql.SQL("{} IS NOT NULL").format(sql.Identifier(order[0]))] if skip_nulls else []
    if after:
        conditions.append(
            sql.SQL("({cols}) > ({values})").format(cols=_columns(order), values=_placeholders(len(order)))
        )
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    return sql.SQL("SELECT {row}, {cols} FROM {table} AS t {where} ORDER BY {cols} LIMIT %s").format(
        row=row_sql(table.columns), cols=_columns(order), table=table_sql(table.name), where=where
    )


class SnapshotSource:
    """Reads every mapped table once, in key order, resuming from its checkpoint after a crash.

    Every row gets the same `version`: a fresh snapshot's start time, or
    `SNAPSHOT_VERSION` when a change stream runs alongside (any streamed change wins).
    """

    def __init__(
        self, conn: psycopg.Connection[Any], mappings: Mappings, checkpoints: PostgresCheckpoints, *, version: int
    ) -> None:
        self._conn = conn
        self._tables = tables_of(mappings)
        self._checkpoints = checkpoints
        self._version = version
        # Where reading has got to; the checkpoint (where applying has got to) trails it
        # while batches wait in the runner's queue.
        self._positions: dict[str, dict[str, Any]] = {}

    def prepare(self) -> None:
        for table in self._tables:
            self._positions[table.entity] = snapshots.position(self._checkpoints, table.entity)

    def read(self, limit: int) -> Batch:
        for table in self._tables:
            position = self._positions[table.entity]
            if position.get("done"):
                continue
            after = position.get("after")
            params = [*(after if after is not None else []), limit]
            rows = self._conn.execute(page_query(table, table.key, after is not None), params).fetchall()
            self._conn.commit()
            changes = [
                Change(
                    entity=table.entity,
                    key=table.key_value(row[0]),
                    op=Operation.UPSERT,
                    version=self._version,
                    data=row[0],
                )
                for row in rows
            ]
            done = len(rows) < limit
            last = list(rows[-1][1:]) if rows else after
            token = (table.entity, {"after": last, "done": done})
            self._positions[table.entity] = token[1]
            return Batch(changes=changes, token=token, final=done and table is self._tables[-1])
        return Batch(changes=[], final=True)

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        if batch.token is not None:
            entity, position = batch.token
            snapshots.keep_position(self._checkpoints, entity, position)

    def close(self) -> None:
        self._conn.close()
