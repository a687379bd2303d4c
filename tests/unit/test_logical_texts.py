"""The text-to-JSON typing of a logical capture (pure); tests/integration/test_logical_values.py holds it
against PostgreSQL's own to_jsonb."""

from __future__ import annotations

from graphsync.connectors.postgres.logical import pgoutput, texts


def _columns(*spec: tuple[str, int]) -> list[pgoutput.Column]:
    return [pgoutput.Column(name, oid, key=False) for name, oid in spec]


def _whole(*spec: tuple[str, int]) -> texts.Layout:
    layout = texts.layout(_columns(*spec), "drop", ())
    assert layout is not None
    return layout


def test_a_row_of_known_types_is_typed_like_to_jsonb() -> None:
    layout = _whole(("id", 20), ("name", 25), ("ok", 16), ("x", 701), ("big", 701), ("n", 1700), ("doc", 3802))
    row = texts.typed(layout, ("7", "Ada", "t", "2", "1e+20", "1.50", '{"a": [1]}'))
    assert row == {"id": 7, "name": "Ada", "ok": True, "x": 2, "big": 10**20, "n": 1.5, "doc": {"a": [1]}}
    assert row is not None
    assert type(row["x"]) is int  # to_jsonb(2::float8) is the number 2, read back as an integer


def test_fractions_stay_floats_and_not_numbers_stay_text() -> None:
    layout = _whole(("f", 701))
    assert texts.typed(layout, ("1.5e-07",)) == {"f": 1.5e-07}
    assert texts.typed(layout, ("0.25",)) == {"f": 0.25}
    assert texts.typed(layout, ("NaN",)) == {"f": "NaN"}
    assert texts.typed(layout, ("-Infinity",)) == {"f": "-Infinity"}


def test_a_null_is_none_and_an_unsent_value_leaves_the_row_to_postgres() -> None:
    layout = _whole(("id", 23), ("body", 25))
    assert texts.typed(layout, ("1", None)) == {"id": 1, "body": None}
    assert texts.typed(layout, ("1", pgoutput.UNCHANGED)) is None


def test_an_unknown_type_the_mapping_takes_leaves_the_relation_to_postgres() -> None:
    assert texts.layout(_columns(("id", 20), ("at", 1184)), "drop", ()) is None
    assert texts.layout(_columns(("id", 20), ("doc", 114)), "drop", ()) is None
    # Not taken by the mapping: its type does not matter.
    assert texts.layout(_columns(("id", 20), ("at", 1184)), "drop", ("at",)) is not None
    assert texts.layout(_columns(("id", 20), ("at", 1184)), "keep", ("id",)) is not None


def test_the_mapping_s_cut_and_jsonb_key_order() -> None:
    columns = _columns(("zz", 23), ("a", 23), ("Ä", 23), ("bb", 23), ("gone", 23))
    kept = texts.layout(columns, "keep", ("zz", "bb", "a", "Ä", "absent"))
    assert kept is not None
    # Shorter first, by bytes ("Ä" is two bytes in UTF-8, above "bb"); a kept column not sent is null.
    assert list((texts.typed(kept, ("1", "2", "3", "4", "5")) or {}).items()) == [
        ("a", 2),
        ("bb", 4),
        ("zz", 1),
        ("Ä", 3),
        ("absent", None),
    ]
    dropped = texts.layout(columns, "drop", ("gone",))
    assert dropped is not None
    assert list(texts.typed(dropped, ("1", "2", "3", "4", "5")) or {}) == ["a", "bb", "zz", "Ä"]
