"""The two sides of a reconciliation, read bucket by bucket: a graph (source or target) and PostgreSQL tables.

A bucket is a range (low, high] of the key of an entity's (start) node, either
end open; the source says where each bucket ends (`boundary`), both sides read
it. A relationship bucket's bounds are (start key, end key) pairs (see
`relationship_bound`), so a super-node's relationships span several buckets.
Memory holds one bucket per side, whatever the data set's size or a node's degree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, LiteralString, Protocol

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.connectors import cypher, slots
from graphsync.connectors.graphs import queries as graph_queries
from graphsync.connectors.graphs import sides
from graphsync.connectors.graphs.reading import (
    GraphReader,
    Versions,
    fetch,
    node_change,
    relationship_bound,
    relationship_change,
    start_keys,
    visible,
)
from graphsync.connectors.postgres.tables import tables_of
from graphsync.connectors.rows import PLAIN, Form
from graphsync.reconcile import queries
from graphsync.reconcile.entries import (
    Entry,
    node_entry,
    relationship_entry,
    target_node_entry,
    target_relationship_entry,
)
from graphsync.spec.mapping import Mappings, NodeMapping, RelationshipMapping


class Side(Protocol):
    def count(self, entity: str) -> int: ...
    def boundary(self, entity: str, after: Any, size: int) -> Any | None:
        """The `size`-th (start) key above `after` (a relationship's (start key, end key) pair), or None when
        fewer remain: the last bucket is open."""
        ...

    def bucket(self, entity: str, low: Any, high: Any, ids: Sequence[Any] = ()) -> dict[str, Entry]:
        """Entities whose (start) key is in (low, high] (None: unbounded), or, given `ids`, one of them."""
        ...


class GraphSide:
    """A graph read through a `GraphReader`: the source of a graph pipeline, or any pipeline's target."""

    def __init__(
        self,
        reader: GraphReader,
        mappings: Mappings,
        *,
        target: bool,
        versions: Versions,
        skip_bare: bool = False,
        form: Form = PLAIN,
    ) -> None:
        """`skip_bare`: a source node with nothing but its key and no version is a placeholder the engine left
        (a bidirectional pipeline writes the source too), not an entity. `form`: a source's entities are
        compared as the target holds them (see rows.Form)."""
        self._reader = reader
        self._mappings = mappings
        self._target = target
        self._versions = versions
        self._skip_bare = skip_bare
        self._form = form

    def count(self, entity: str) -> int:
        mapping = self._mapping(entity)
        if isinstance(mapping, NodeMapping):
            query = cypher.render(queries.COUNT_NODES, **sides.node_slots(mapping, target=self._target))
        else:
            slots_ = sides.relationship_slots(self._mappings, mapping, target=self._target)
            query = cypher.render(queries.COUNT_RELATIONSHIPS, **slots_)
        [[total]] = fetch(self._reader, query)
        return int(total)

    def boundary(self, entity: str, after: Any, size: int) -> Any | None:
        mapping = self._mapping(entity)
        if isinstance(mapping, RelationshipMapping):
            return relationship_bound(self._reader, self._mappings, mapping, after, size)
        keys = start_keys(self._reader, mapping, after, size, target=self._target)
        return keys[-1] if len(keys) == size else None

    def bucket(self, entity: str, low: Any, high: Any, ids: Sequence[Any] = ()) -> dict[str, Entry]:
        mapping = self._mapping(entity)
        if isinstance(mapping, NodeMapping):
            conditions = (queries.IN_IDS,) if ids else sides.key_range(low is not None, high is not None)
            entries = self._nodes(mapping, conditions, {"low": low, "high": high, "ids": list(ids)})
        else:
            conditions, params = ((queries.IN_IDS,), {}) if ids else sides.relationship_range(low, high)
            entries = self._relationships(mapping, conditions, {**params, "ids": list(ids)})
        return {entry.ident: entry for entry in entries}

    def tombstones(self, idents: Sequence[str]) -> dict[str, int]:
        """The versions of the deletes recorded for these entities, which a repair must outrank."""
        return {ident: int(version) for ident, version in fetch(self._reader, queries.TOMBSTONES, {"ids": idents})}

    def _nodes(
        self, mapping: NodeMapping, conditions: tuple[LiteralString, ...], params: Mapping[str, Any]
    ) -> list[Entry]:
        node_slots = sides.node_slots(mapping, target=self._target)
        if not self._target:
            rows = fetch(self._reader, sides.query(graph_queries.NODES, node_slots, *conditions), params)
            if self._skip_bare:
                rows = [row for row in rows if cypher.VERSION in row[1] or set(row[1]) - {mapping.key}]
            found = (
                node_entry(mapping, node_change(mapping, visible(props), self._versions.or_fallback(props)), self._form)
                for _, props in rows
            )
            return [entry for entry in found if entry is not None]
        ends = ", ".join(
            cypher.render(queries.FK_ENDS, **slots.foreign_key_slots(self._mappings, fk)) for fk in mapping.foreign_keys
        )
        template = cypher.render(queries.TARGET_NODES, label="{label}", key="{key}", where="{where}", ends=ends)
        rows = fetch(self._reader, sides.query(template, node_slots, *conditions), params)
        entries = [target_node_entry(mapping, key, props, labels, fk_ends) for key, props, labels, fk_ends in rows]
        return [entry for entry in entries if entry is not None]

    def _relationships(
        self, mapping: RelationshipMapping, conditions: tuple[LiteralString, ...], params: Mapping[str, Any]
    ) -> list[Entry]:
        rel_slots = sides.relationship_slots(self._mappings, mapping, target=self._target)
        rows = fetch(self._reader, sides.query(graph_queries.RELATIONSHIPS, rel_slots, *conditions), params)
        if self._target:
            return [target_relationship_entry(mapping, start, end, props) for start, end, props in rows]
        found = (
            relationship_entry(
                mapping,
                relationship_change(mapping, start, end, visible(props), self._versions.or_fallback(props)),
                self._form,
            )
            for start, end, props in rows
        )
        return [entry for entry in found if entry is not None]

    def _mapping(self, entity: str) -> NodeMapping | RelationshipMapping:
        return self._mappings.entity(entity)


# PostgreSQL: the (start) key column of each table; text compares in the C collation, which orders
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
