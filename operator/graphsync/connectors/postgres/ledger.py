"""A bidirectional PostgreSQL pipeline's state in the engine's schema: the ledger and the held conflicts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg import sql

from graphsync import codec
from graphsync.conflicts.held import Base, HeldConflicts
from graphsync.spec import identifiers

_GET = "SELECT ident, digest, data FROM {schema}.ledger WHERE pipeline = %s AND entity = %s AND ident = ANY(%s)"
_PUT = """
INSERT INTO {schema}.ledger (pipeline, entity, ident, digest, data) VALUES (%s, %s, %s, %s, %s)
ON CONFLICT (pipeline, entity, ident) DO UPDATE SET digest = EXCLUDED.digest, data = EXCLUDED.data
"""
_IDENTS = "SELECT ident FROM {schema}.ledger WHERE pipeline = %s AND entity = %s"
_DROP = "DELETE FROM {schema}.ledger WHERE pipeline = %s AND entity = %s AND ident = ANY(%s)"
_LOAD = "SELECT record FROM {schema}.conflict WHERE pipeline = %s AND id = %s"
_SAVE = """
INSERT INTO {schema}.conflict (pipeline, id, record) VALUES (%s, %s, %s)
ON CONFLICT (pipeline, id) DO UPDATE SET record = EXCLUDED.record
"""
_ALL = "SELECT record FROM {schema}.conflict WHERE pipeline = %s"


class PostgresLedger:
    def __init__(self, conn: psycopg.Connection[Any], *, pipeline: str, schema: str) -> None:
        self._conn = conn
        self._pipeline = pipeline
        self._schema = sql.Identifier(identifiers.check(schema))

    def get(self, entity: str, idents: Sequence[str]) -> dict[str, Base]:
        if not idents:
            return {}
        rows = self._conn.execute(self._sql(_GET), (self._pipeline, entity, list(idents))).fetchall()
        return {ident: Base.of(int(digest), codec.loads(data)) for ident, digest, data in rows}

    def idents(self, entity: str) -> Iterator[str]:
        for (ident,) in self._conn.execute(self._sql(_IDENTS), (self._pipeline, entity)):
            yield str(ident)

    def put(self, entity: str, bases: Mapping[str, Base]) -> None:
        if bases:
            rows = [
                (self._pipeline, entity, ident, base.digest, codec.dumps(base.stored()))
                for ident, base in bases.items()
            ]
            with self._conn.transaction(), self._conn.cursor() as cursor:
                cursor.executemany(self._sql(_PUT), rows)

    def drop(self, entity: str, idents: Sequence[str]) -> None:
        if idents:
            with self._conn.transaction():
                self._conn.execute(self._sql(_DROP), (self._pipeline, entity, list(idents)))

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=self._schema)


class PostgresConflicts(HeldConflicts):
    def __init__(self, conn: psycopg.Connection[Any], *, pipeline: str, schema: str) -> None:
        self._conn = conn
        self._pipeline = pipeline
        self._schema = sql.Identifier(identifiers.check(schema))

    def _load(self, conflict: str) -> dict[str, Any] | None:
        row = self._conn.execute(self._sql(_LOAD), (self._pipeline, conflict)).fetchone()
        return codec.loads(row[0]) if row else None

    def _save(self, record: dict[str, Any]) -> None:
        with self._conn.transaction():
            self._conn.execute(self._sql(_SAVE), (self._pipeline, record["id"], codec.dumps(record)))

    def _all(self) -> list[dict[str, Any]]:
        return [codec.loads(row[0]) for row in self._conn.execute(self._sql(_ALL), (self._pipeline,))]

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=self._schema)
