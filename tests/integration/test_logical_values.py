"""Values a logical capture types itself (connectors/postgres/logical/texts.py) against PostgreSQL's own word.

pgoutput sends each value as its type's text output (`value::text`); the snapshot reads and the triggers give
`to_jsonb`. For every type typed in Python, edge values in both forms must come out the same, in value, in
Python type (1 is not 1.0 to a graph) and in key order.
"""

from __future__ import annotations

import math
from typing import Any

import psycopg
import pytest
from psycopg import sql

from graphsync.connect import _json_loads
from graphsync.connectors.postgres.logical import pgoutput, texts

Conn = psycopg.Connection[Any]

# Per type (its oid for pgoutput): edge values as SQL literals.
CASES: list[tuple[str, int, list[str]]] = [
    ("boolean", 16, ["true", "false"]),
    ("smallint", 21, ["0", "-32768", "32767"]),
    ("integer", 23, ["0", "-2147483648", "2147483647"]),
    ("bigint", 20, ["0", "-9223372036854775808", "9223372036854775807"]),
    ("text", 25, ["''", "'plain'", "'ünïcødé ✓'", "'quote \" and \\ backslash'", "'  padded  '", "'1.5'"]),
    ("varchar(40)", 1043, ["''", "'x'", "'tab\there'"]),
    (
        "double precision",
        701,
        [
            "0",
            "-0",
            "1",
            "-1",
            "0.1",
            "1.5",
            "1e15",
            "1e16",
            "1e17",
            "1e20",
            "1e308",
            "-1e308",
            "1.5e-7",
            "5e-324",
            "2.2250738585072014e-308",
            "123456789.123456789",
            "1e-5",
            "0.0001",
            "'NaN'",
            "'Infinity'",
            "'-Infinity'",
            "3.141592653589793",
            "100",
            "1234567890123456789",
        ],
    ),
    ("real", 700, ["0", "1", "0.1", "3.4e38", "1.5e-7", "16777217", "1e10", "'NaN'", "'-Infinity'", "2.5"]),
    (
        "numeric",
        1700,
        [
            "0",
            "1.50",
            "100",
            "-0.000",
            "12345678901234567890123",
            "1e20",
            "0.1",
            "1.000000000000000000001",
            "'NaN'",
            "-7.25",
        ],
    ),
    ("jsonb", 3802, ['\'{"a": 1.0, "b": [1e2, 12345678901234567890123], "c": null}\'', "'[]'", "'\"s\"'", "'2'"]),
]


@pytest.mark.parametrize(("sql_type", "oid", "literals"), CASES, ids=[case[0] for case in CASES])
def test_each_value_typed_here_is_what_to_jsonb_gives(
    pg_conn: Conn, sql_type: str, oid: int, literals: list[str]
) -> None:
    layout = texts.layout([pgoutput.Column(name="v", type_oid=oid, key=False)], "drop", ())
    assert layout is not None, f"{sql_type} should be typed here"
    for literal in literals:
        value = sql.SQL(f"({literal})::{sql_type}")
        row = pg_conn.execute(sql.SQL("SELECT ({v})::text, to_jsonb({v})::text").format(v=value)).fetchone()
        assert row is not None
        text, expected_json = row
        expected = _json_loads(expected_json)
        got = texts.typed(layout, (text,))
        assert got is not None
        assert _same(got["v"], expected), (
            f"{sql_type} {literal}: sent as {text!r}, to_jsonb {expected!r}, here {got['v']!r}"
        )


def test_a_whole_row_has_to_jsonb_key_order_and_a_null_stays_null(pg_conn: Conn) -> None:
    pg_conn.execute(
        'CREATE TABLE typed_row (id bigint PRIMARY KEY, a text, zz double precision, bb boolean, "Ä" integer,'
        " longer_name numeric)"
    )
    pg_conn.execute("INSERT INTO typed_row VALUES (7, 'x', 2.0, NULL, 3, 4.5)")
    columns = [
        pgoutput.Column(name, oid, key=name == "id")
        for name, oid in [("id", 20), ("a", 25), ("zz", 701), ("bb", 16), ("Ä", 23), ("longer_name", 1700)]
    ]
    texts_row = pg_conn.execute(
        'SELECT id::text, a::text, zz::text, bb::text, "Ä"::text, longer_name::text FROM typed_row'
    ).fetchone()
    expected_row = pg_conn.execute("SELECT to_jsonb(t)::text FROM typed_row AS t").fetchone()
    assert texts_row is not None
    assert expected_row is not None
    layout = texts.layout(columns, "drop", ())
    assert layout is not None
    got = texts.typed(layout, tuple(texts_row))
    assert got is not None
    expected = _json_loads(expected_row[0])
    assert list(got.items()) == list(expected.items())


def test_other_types_are_left_to_postgres() -> None:
    for oid in (114, 1082, 1114, 1184, 1007, 2950, 17, 1042):  # json, date, timestamp(tz), int[], uuid, bytea, char
        assert texts.layout([pgoutput.Column("v", oid, key=False)], "drop", ()) is None


def _same(got: Any, expected: Any) -> bool:
    """Equal and of one Python type, all the way down (1 is not 1.0, nor True); NaN is NaN."""
    if type(got) is not type(expected):
        return False
    if isinstance(got, float):
        return got == expected or (math.isnan(got) and math.isnan(expected))
    if isinstance(got, dict):
        return list(got) == list(expected) and all(_same(got[k], expected[k]) for k in got)
    if isinstance(got, list):
        return len(got) == len(expected) and all(_same(g, e) for g, e in zip(got, expected, strict=True))
    return bool(got == expected)
