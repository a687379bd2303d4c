"""Decoding rows read as JSON: fast, and exact even where the fast parser gives up."""

from __future__ import annotations

from graphsync.connect import _json_loads


def test_rows_decode_from_bytes_and_text() -> None:
    assert _json_loads(b'{"id": 1, "price": 1.25, "tags": ["a"]}') == {"id": 1, "price": 1.25, "tags": ["a"]}
    assert _json_loads(memoryview(b'{"id": 2}')) == {"id": 2}


def test_integers_beyond_64_bits_keep_every_digit() -> None:
    assert _json_loads(b'{"n": 123456789012345678901234567890}') == {"n": 123456789012345678901234567890}
