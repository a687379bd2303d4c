"""The pgoutput decoder and the slot's decisions, on bytes and shapes made by hand (pure)."""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import pytest

from graphsync.connectors.postgres.columns import Columns
from graphsync.connectors.postgres.logical import pgoutput
from graphsync.connectors.postgres.logical.slot import (
    TableShape,
    delete_columns,
    identity_problem,
    published_columns,
    slot_name,
)
from graphsync.connectors.postgres.tables import Table
from graphsync.spec.mapping import Mappings


def text(value: str) -> bytes:
    return value.encode() + b"\0"


def tuple_data(*values: str | None) -> bytes:
    out = struct.pack("!H", len(values))
    for value in values:
        if value is None:
            out += b"n"
        elif value == "<unchanged>":
            out += b"u"
        else:
            out += b"t" + struct.pack("!I", len(value.encode())) + value.encode()
    return out


def test_begin_and_commit_carry_the_commit_position_and_time() -> None:
    # 2026-12-07 10:00:00.25 UTC, in microseconds since 2000-01-01 as PostgreSQL counts.
    unix = datetime(2026, 12, 7, 10, 0, 0, 250_000, tzinfo=UTC).timestamp()
    since_2000 = round((unix - datetime(2000, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000)
    begin = pgoutput.decode(b"B" + struct.pack("!QqI", 0x16B374D848, since_2000, 7))
    assert begin == pgoutput.Begin(final_lsn=0x16B374D848, xid=7, committed_at=unix)
    commit = pgoutput.decode(b"C" + struct.pack("!BQQq", 0, 0x16B374D848, 0x16B374D900, 0))
    assert commit == pgoutput.Commit(commit_lsn=0x16B374D848, end_lsn=0x16B374D900)


def test_a_relation_names_its_columns_and_key() -> None:
    body = struct.pack("!I", 16384) + text("shop") + text("customer") + b"d" + struct.pack("!H", 2)
    body += struct.pack("!B", 1) + text("id") + struct.pack("!Ii", 23, -1)
    body += struct.pack("!B", 0) + text("name") + struct.pack("!Ii", 25, -1)
    relation = pgoutput.decode(b"R" + body)
    assert isinstance(relation, pgoutput.Relation)
    assert relation.qualified == "shop.customer"
    assert relation.columns == (pgoutput.Column("id", 23, key=True), pgoutput.Column("name", 25, key=False))


def test_rows_with_nulls_and_unchanged_toasted_values() -> None:
    insert = pgoutput.decode(b"I" + struct.pack("!I", 16384) + b"N" + tuple_data("1", None))
    assert insert == pgoutput.Insert(relation=16384, new=("1", None))
    update = pgoutput.decode(
        b"U" + struct.pack("!I", 1) + b"K" + tuple_data("1", None) + b"N" + tuple_data("2", "<unchanged>")
    )
    assert isinstance(update, pgoutput.Update)
    assert update.old == ("1", None)
    assert update.new[1] is pgoutput.UNCHANGED
    delete = pgoutput.decode(b"D" + struct.pack("!I", 1) + b"K" + tuple_data("5", None))
    assert delete == pgoutput.Delete(relation=1, old=("5", None))
    truncate = pgoutput.decode(b"T" + struct.pack("!IBII", 2, 0, 10, 11))
    assert truncate == pgoutput.Truncate(relations=(10, 11))
    assert pgoutput.decode(b"Y" + struct.pack("!I", 1) + text("public") + text("mood")) == pgoutput.Skipped("Y")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "empty message"),
        (b"Z", "unknown message kind 'Z'"),
        (b"I" + struct.pack("!I", 1) + b"X", "expected 'N', found 'X'"),
        (b"B" + struct.pack("!Q", 1), "message ends at byte 9"),
        (b"I" + struct.pack("!I", 1) + b"N" + struct.pack("!H", 1) + b"b", "binary mode is not asked for"),
    ],
)
def test_bytes_that_are_not_a_message_are_named(data: bytes, error: str) -> None:
    with pytest.raises(pgoutput.DecodeError, match=error):
        pgoutput.decode(data)


CUSTOMER = Table("customer", "shop.customer", ("id",), Columns(drop=("secret",)))
LIKES = Table("likes", "shop.likes", ("customer_id", "product_id"))


def shape(identity: str, key: tuple[str, ...], columns: tuple[str, ...] = ("id", "name", "secret")) -> TableShape:
    return TableShape(name="shop.customer", columns=columns, identity=identity, identity_columns=key)


def test_a_primary_key_or_a_full_identity_lets_deletes_be_captured() -> None:
    assert identity_problem(CUSTOMER, shape("d", ("id",)), ("id",)) is None
    assert identity_problem(CUSTOMER, shape("f", ()), ("id",)) is None


def test_a_missing_identity_is_refused_with_the_table_and_the_fix() -> None:
    problem = identity_problem(CUSTOMER, shape("n", ()), ("id",))
    assert problem is not None
    assert "table shop.customer has no replica identity" in problem
    assert "ALTER TABLE shop.customer REPLICA IDENTITY FULL" in problem
    assert "no replica identity" in (identity_problem(CUSTOMER, shape("d", ()), ("id",)) or "")


def test_an_identity_without_what_a_delete_needs_is_refused() -> None:
    problem = identity_problem(LIKES, shape("i", ("customer_id",)), ("customer_id", "product_id"))
    assert problem is not None
    assert "lacks column(s) product_id that a delete of likes needs" in problem


def test_the_publication_lists_the_mapped_columns_and_the_identity() -> None:
    assert published_columns(CUSTOMER, shape("d", ("id",))) == ["id", "name"]
    kept = Table("customer", "shop.customer", ("id",), Columns(keep=("name",)))
    assert published_columns(kept, shape("d", ("id",))) == ["id", "name"]
    # A mapping taking every column publishes the table without a list (its columns may change freely).
    assert published_columns(Table("customer", "shop.customer", ("id",)), shape("d", ("id",))) is None


def test_a_delete_needs_a_nodes_key_and_a_relationships_key_and_ends() -> None:
    mappings = Mappings.model_validate(
        {
            "nodes": [{"name": "customer", "table": "shop.customer", "labels": ["Customer"], "key": "id"}],
            "relationships": [
                {
                    "name": "likes",
                    "table": "shop.likes",
                    "type": "LIKES",
                    "key": ["id"],
                    "source": {"references": "customer", "column": "customer_id"},
                    "target": {"references": "customer", "column": "friend_id"},
                }
            ],
        }
    )
    assert delete_columns(mappings) == {"customer": ("id",), "likes": ("id", "customer_id", "friend_id")}


def test_slot_names_are_short_stable_and_distinct_per_identity() -> None:
    assert slot_name("team-a.shop") == slot_name("team-a.shop")
    assert slot_name("team-a.shop") != slot_name("team-b.shop")
    assert len(slot_name("x" * 300)) <= 63
