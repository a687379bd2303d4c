"""Per-pipeline capture on plain data: trigger names from identities, and the columns that may leave the source."""

from __future__ import annotations

import re

import pytest

from graphsync.connectors.postgres.columns import Columns, node_columns, relationship_columns, selected
from graphsync.connectors.postgres.outbox import LEGACY_TRIGGER, capture_arguments, trigger_name
from graphsync.connectors.postgres.tables import page_query, tables_of
from graphsync.spec.mapping import Mappings, PropertySelection
from graphsync.spec.pipeline import identity

SHOP = Mappings.model_validate(
    {
        "nodes": [
            {"name": "customer", "labels": ["Customer"], "key": "id", "properties": {"exclude": ["secret"]}},
            {
                "name": "orders",
                "labels": ["Order"],
                "key": "id",
                "properties": {"include": ["total_cents"], "rename": {"total_cents": "total"}},
                "foreignKeys": [{"column": "customer_id", "references": "customer", "type": "PLACED_BY"}],
            },
        ],
        "relationships": [
            {
                "name": "likes",
                "type": "LIKES",
                "from": {"column": "customer_id", "references": "customer"},
                "to": {"column": "order_id", "references": "orders"},
                "key": ["customer_id", "order_id"],
                "properties": {"include": ["stars"]},
            }
        ],
    }
)


def test_a_trigger_name_is_stable_short_and_one_per_identity() -> None:
    names = {trigger_name(identity("shop", namespace)) for namespace in ("a", "b", None)}
    assert len(names) == 3
    assert trigger_name("a.shop") == trigger_name("a.shop")
    longest = trigger_name(identity("x" * 63, "y" * 63))
    for name in (*names, longest):
        assert re.fullmatch(r"graphsync_capture_[0-9a-f]{12}", name)
        assert len(name.encode()) <= 63
        assert name != LEGACY_TRIGGER


def test_the_trigger_arguments_carry_the_identity_the_keys_and_the_listed_columns() -> None:
    assert capture_arguments("a.shop", "likes", ["customer_id", "order_id"], Columns(keep=("stars",))) == [
        "a.shop",
        "likes",
        "keep",
        "2",
        "customer_id",
        "order_id",
        "stars",
    ]
    assert capture_arguments("b.shop", "customer", ["id"], Columns(drop=("secret",))) == [
        "b.shop",
        "customer",
        "drop",
        "1",
        "id",
        "secret",
    ]


def test_an_excluded_column_is_dropped_and_an_included_list_keeps_keys_foreign_keys_and_ends() -> None:
    customer, orders = SHOP.nodes
    assert node_columns(customer) == Columns(drop=("secret",))
    assert node_columns(orders) == Columns(keep=("id", "customer_id", "total_cents"))
    assert node_columns(orders, watermark="updated_at") == Columns(
        keep=("id", "customer_id", "updated_at", "total_cents")
    )
    [likes] = SHOP.relationships
    assert relationship_columns(likes) == Columns(keep=("customer_id", "order_id", "stars"))
    assert [table.columns for table in tables_of(SHOP)] == [
        node_columns(customer),
        node_columns(orders),
        relationship_columns(likes),
    ]


def test_a_column_the_sink_needs_travels_even_when_excluded_as_a_property() -> None:
    properties = PropertySelection(exclude=("customer_id", "secret", "updated_at"))
    assert selected(properties, ["id", "customer_id", "updated_at"]) == Columns(drop=("secret",))
    assert selected(PropertySelection(), ["id"]) == Columns()


def test_columns_cut_a_row_as_the_database_does() -> None:
    row = {"id": 1, "name": "a", "secret": "pw", "total_cents": 5}
    assert Columns(drop=("secret",)).apply(row) == {"id": 1, "name": "a", "total_cents": 5}
    assert Columns(keep=("id", "total_cents", "missing")).apply(row) == {"id": 1, "total_cents": 5}
    assert Columns().apply(row) == row
    assert Columns(keep=("id",)).listing() == ("keep", ("id",))
    assert Columns(drop=()).listing() == ("drop", ())


def test_a_column_name_is_checked() -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        Columns(drop=('x"; DROP TABLE t; --',))


def test_a_snapshot_page_selects_only_the_mapped_columns() -> None:
    customer, orders = tables_of(SHOP)[:2]
    assert "- ARRAY['secret']::text[]" in page_query(customer, customer.key, after=False).as_string(None)
    text = page_query(orders, orders.key, after=True).as_string(None)
    assert "ANY(ARRAY['id', 'customer_id', 'total_cents']::text[])" in text
    assert 'FROM "orders" AS t WHERE ("id") > (%s)' in text
