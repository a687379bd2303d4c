"""Writing changes back into mapped tables, for bidirectional pipelines: upsert and delete by key.

A graph entity holds every column of its row under the column's name (bidirectional
mappings rename nothing), and an absent property is a NULL column, so an upsert sets
every column of the table. Rows carry no version, so there is no version guard here:
the pass decided from state what to write.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import ApplyResult, Change, Operation
from graphsync.connectors.postgres.tables import Table, tables_of
from graphsync.connectors.rows import newest
from graphsync.spec.mapping import Mappings

# By the table's quoted name, so a mixed-case name is the table it says (names are validated identifiers).
_COLUMNS = "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped"
_UPSERT = """
INSERT INTO {table} ({columns}) VALUES ({values})
ON CONFLICT ({key}) DO UPDATE SET {updates}
RETURNING (xmax = 0) AS inserted
"""
_DELETE = "DELETE FROM {table} WHERE ({key}) = ({values})"
# Deletes nothing, yet is refused like any write by a read-only server or a role that lost its grants.
_CANARY = "DELETE FROM {table} WHERE false"


class RowSink:
    def __init__(self, conn: psycopg.Connection[Any], mappings: Mappings) -> None:
        self._conn = conn
        self._tables = {table.entity: table for table in tables_of(mappings)}
        self._columns: dict[str, list[str]] = {}

    def prepare(self) -> None:
        for entity in self._tables:
            self._columns_of(entity)

    def stage(self, changes: Sequence[Change]) -> None:
        return None

    def apply(self, changes: Sequence[Change], staged: Any = None) -> ApplyResult:
        result = ApplyResult()
        with self._conn.transaction():
            for change in newest(changes):
                table = self._tables[change.entity]
                if change.op is Operation.UPSERT:
                    inserted = self._upsert(table, change)
                    result += ApplyResult(created=int(inserted), updated=int(not inserted))
                else:
                    result += ApplyResult(deleted=self._delete(table, change))
        return result

    def is_transient(self, error: BaseException) -> bool:
        # A standby or a database set read-only refuses every write: no row is to blame.
        return isinstance(error, psycopg.OperationalError | psycopg.errors.ReadOnlySqlTransaction)

    def ping(self) -> None:
        self._conn.execute("SELECT 1")

    def canary(self) -> None:
        with self._conn.transaction():
            for table in self._tables.values():
                self._conn.execute(sql.SQL(_CANARY).format(table=_name(table)))

    def close(self) -> None:
        self._conn.close()

    def _upsert(self, table: Table, change: Change) -> bool:
        columns = self._columns_of(table.entity)
        others = [c for c in columns if c not in table.key] or list(table.key)
        query = sql.SQL(_UPSERT).format(
            table=_name(table),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
            updates=sql.SQL(", ").join(sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in others),
        )
        row = self._conn.execute(query, [change.data.get(column) for column in columns]).fetchone()
        return bool(row and row[0])

    def _delete(self, table: Table, change: Change) -> int:
        values = change.key if isinstance(change.key, list | tuple) else [change.key]
        query = sql.SQL(_DELETE).format(
            table=_name(table),
            key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(table.key)),
        )
        return self._conn.execute(query, list(values)).rowcount

    def _columns_of(self, entity: str) -> list[str]:
        if entity not in self._columns:
            table = self._tables[entity]
            quoted = ".".join(f'"{part}"' for part in table.name.split("."))
            rows = self._conn.execute(_COLUMNS, (quoted,)).fetchall()
            if not rows:
                raise ValueError(f"table {table.name!r} (entity {entity}) has no columns or does not exist")
            self._columns[entity] = [str(row[0]) for row in rows]
        return self._columns[entity]


def _name(table: Table) -> sql.Identifier:
    return sql.Identifier(*table.name.split("."))
