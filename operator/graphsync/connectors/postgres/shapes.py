"""A table's shape as PostgreSQL has it: each column's number, name and type. The number survives a rename and
a type change, so the two are told apart from a drop and an add."""

from __future__ import annotations

from typing import Any

import psycopg

_SHAPE = """
SELECT a.attnum, a.attname, format_type(a.atttypid, a.atttypmod)
FROM pg_attribute a
WHERE a.attrelid = %(table)s::regclass AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# [number, name, type] per column, as stored (JSON) and compared.
Shape = list[list[Any]]


def shape_of(conn: psycopg.Connection[Any], table: str) -> Shape:
    return [[int(number), str(name), str(kind)] for number, name, kind in conn.execute(_SHAPE, {"table": table})]
