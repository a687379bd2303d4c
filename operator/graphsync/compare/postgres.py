"""The mapped tables of a PostgreSQL source as a side of a comparison, read bucket by bucket (see
`compare.sides`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.compare.entries import Entry, node_entry, relationship_entry
from graphsync.connectors.postgres.tables import tables_of
from graphsync.connectors.rows import PLAIN, Form
from graphsync.spec.mapping import Mappings, NodeMapping, RelationshipMapping

# The (start) key column of each table is the range column; text compares in the C collation, which orders
# by code point as graph databases do, so both sides put every key in the same bucket.
_COUNT = "SELECT count(*) FROM {table}"
# The boundary in its JSON form, as rows read through `to_jsonb` (and graph keys) have it.
_BOUNDARY = (
    "SELECT count(*), to_jsonb(max(c))"
    " FROM (SELECT DISTINCT {column} AS c FROM {table} AS t {where} ORDER BY c LIMIT %s) s"
)
# A relationship table's bounds: the `size`-th (start, end) pair, NULL ends last as in ORDER BY.
_PAIR_BOUNDARY = (
    "SELECT count(*) OVER (), to_jsonb(s), to_jsonb(e)"
    " FROM (SELECT {column} AS s, {end} AS e FROM {table} AS t {where} ORDER BY s, e LIMIT %s) x"
    " ORDER BY s DESC, e DESC LIMIT 1"
)
_ROWS = "SELECT to_jsonb(t) FROM {table} AS t {where}"
_SAMPLE = "SELECT t.{name} FROM {table} AS t WHERE t.{name} IS NOT NULL LIMIT 1"


class PostgresSide:
    """The mapped tables of a PostgreSQL source, rows mapped exactly as a sync maps them."""

    def __init__(self, conn: psycopg.Connection[Any], mappings: Mappings, form: Form = PLAIN) -> None:
        self._conn = conn
        self._mappings = mappings
        self._form = form
        self._tables = {table.entity: table for table in tables_of(mappings)}
        self._columns: dict[tuple[str, str], sql.Composable] = {}

    def count(self, entity: str) -> int:
        row = self._conn.execute(sql.SQL(_COUNT).format(table=self._table(entity))).fetchone()
        return int(row[0]) if row else 0

    def boundary(self, entity: str, after: Any, size: int) -> Any | None:
        where, params = self._where(entity, after, None, ())
        if isinstance(self._mapping(entity), RelationshipMapping):
            query = sql.SQL(_PAIR_BOUNDARY).format(
                column=self._column(entity), end=self._end(entity), table=self._table(entity), where=where
            )
            row = self._conn.execute(query, [*params, size]).fetchone()
            return (row[1], row[2]) if row and row[0] == size else None
        query = sql.SQL(_BOUNDARY).format(column=self._column(entity), table=self._table(entity), where=where)
        row = self._conn.execute(query, [*params, size]).fetchone()
        return row[1] if row and row[0] == size else None

    def bucket(self, entity: str, low: Any, high: Any, ids: Sequence[Any] = ()) -> dict[str, Entry]:
        table = self._tables[entity]
        where, params = self._where(entity, low, high, ids)
        query = sql.SQL(_ROWS).format(table=self._table(entity), where=where)
        mapping = self._mapping(entity)
        entries = []
        for (doc,) in self._conn.execute(query, params):
            change = Change(entity=entity, key=table.key_value(doc), op=Operation.UPSERT, version=0, data=doc)
            if isinstance(mapping, NodeMapping):
                entry = node_entry(mapping, change, self._form)
            else:
                entry = relationship_entry(mapping, change, self._form)
            if entry is not None:
                entries.append(entry)
        return {entry.ident: entry for entry in entries}

    def _where(self, entity: str, low: Any, high: Any, ids: Sequence[Any]) -> tuple[sql.Composable, list[Any]]:
        """The rows in (low, high] and their parameters; a relationship table's bounds are (start, end) pairs
        (an end None: every row of that start), a NULL end sorting after every other."""
        column = self._column(entity)
        if ids:
            # Compared as text: a key given on the command line may be a number or a string.
            return sql.SQL("WHERE ({column})::text = ANY(%s)").format(column=column), [[str(i) for i in ids]]
        pairs = isinstance(self._mapping(entity), RelationshipMapping)
        conditions: list[sql.Composable] = []
        params: list[Any] = []
        for bound, above in ((low, True), (high, False)):
            if bound is not None:
                condition, values = self._bound(entity, bound if pairs else (bound, None), above=above)
                conditions.append(condition)
                params += values
        if not conditions:
            return sql.SQL(""), params
        return sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions), params

    def _bound(self, entity: str, bound: tuple[Any, Any], *, above: bool) -> tuple[sql.Composable, list[Any]]:
        """One side of a range: past `bound` (`above`) or up to it; a NULL end sorts after every other."""
        key, end = bound
        column = self._column(entity)
        if end is None:
            return sql.SQL("{column} > %s" if above else "{column} <= %s").format(column=column), [key]
        pattern = (
            "{column} >= %s AND ({column} > %s OR {end} > %s OR {end} IS NULL)"
            if above
            else "{column} <= %s AND ({column} < %s OR {end} <= %s)"
        )
        return sql.SQL(pattern).format(column=column, end=self._end(entity)), [key, key, end]

    def _end(self, entity: str) -> sql.Composable:
        mapping = self._mapping(entity)
        assert isinstance(mapping, RelationshipMapping)
        return self._compared(mapping.target.column, entity)

    def _column(self, entity: str) -> sql.Composable:
        """The range column: a node's key, a relationship's start column."""
        mapping = self._mapping(entity)
        return self._compared(mapping.key if isinstance(mapping, NodeMapping) else mapping.source.column, entity)

    def _compared(self, name: str, entity: str) -> sql.Composable:
        """A column as compared: `t.col`, or `t.col COLLATE "C"` when it holds text."""
        if (entity, name) not in self._columns:
            ident = sql.Identifier(name)
            row = self._conn.execute(sql.SQL(_SAMPLE).format(name=ident, table=self._table(entity))).fetchone()
            column = sql.SQL("t.{name}").format(name=ident)
            if row is not None and isinstance(row[0], str):
                column = sql.SQL('{column} COLLATE "C"').format(column=column)
            self._columns[(entity, name)] = column
        return self._columns[(entity, name)]

    def _table(self, entity: str) -> sql.Composable:
        return sql.Identifier(*self._tables[entity].name.split("."))

    def _mapping(self, entity: str) -> NodeMapping | RelationshipMapping:
        return self._mappings.entity(entity)
