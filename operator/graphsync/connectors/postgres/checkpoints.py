"""Checkpoints as explicit objects, stored durably in the source database's engine schema."""

from __future__ import annotations

import json
from typing import Any

import psycopg
from psycopg import sql

from graphsync.spec import identifiers

_GET = "SELECT value FROM {schema}.checkpoint WHERE pipeline = %s AND name = %s"
_PUT = """
INSERT INTO {schema}.checkpoint (pipeline, name, value, updated_at) VALUES (%s, %s, %s, now())
ON CONFLICT (pipeline, name) DO UPDATE SET value = EXCLUDED.value, updated_at = now()
"""
_DELETE = "DELETE FROM {schema}.checkpoint WHERE pipeline = %s AND name = %s"
_ALL = "SELECT name, value FROM {schema}.checkpoint WHERE pipeline = %s ORDER BY name"


class PostgresCheckpoints:
    def __init__(self, conn: psycopg.Connection[Any], *, pipeline: str, schema: str = "graphsync") -> None:
        self._conn = conn
        self._pipeline = pipeline
        self._schema = sql.Identifier(identifiers.check(schema))

    def get(self, name: str) -> Any:
        row = self._conn.execute(sql.SQL(_GET).format(schema=self._schema), (self._pipeline, name)).fetchone()
        return row[0] if row else None

    def put(self, name: str, value: Any) -> None:
        with self._conn.transaction():
            self._conn.execute(
                sql.SQL(_PUT).format(schema=self._schema), (self._pipeline, name, json.dumps(value, default=str))
            )

    def all(self) -> dict[str, Any]:
        rows = self._conn.execute(sql.SQL(_ALL).format(schema=self._schema), (self._pipeline,)).fetchall()
        return {str(name): value for name, value in rows}

    def delete(self, name: str) -> None:
        with self._conn.transaction():
            self._conn.execute(sql.SQL(_DELETE).format(schema=self._schema), (self._pipeline, name))
