"""The mapping spec rejects bad input naming the field, and turns changes into rows."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from graphsync.change import Change, Operation
from graphsync.connectors import rows
from graphsync.spec.mapping import Mappings

SHOP: dict[str, Any] = {
    "nodes": [
        {"name": "customer", "labels": ["Customer", "Party"], "key": "id", "properties": {"exclude": ["secret"]}},
        {
            "name": "orders",
            "labels": ["Order"],
            "key": "id",
            "properties": {"rename": {"total_cents": "total"}},
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
        }
    ],
}


def shop() -> Mappings:
    return Mappings.model_validate(SHOP)


def test_valid_mapping_parses_from_camel_case() -> None:
    mappings = shop()
    assert mappings.node("orders").foreign_keys[0].type == "PLACED_BY"
    assert mappings.entity_names() == ["customer", "orders", "likes"]


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"nodes": [{"name": "c", "labels": ["Bad-Label"], "key": "id"}]}, "nodes.0.labels.0"),
        ({"nodes": [{"name": "c", "labels": ["X"], "key": "id) DETACH DELETE n //"}]}, "nodes.0.key"),
        ({"nodes": [{"name": "c", "labels": [], "key": "id"}]}, "nodes.0.labels"),
        ({"nodes": [{"name": "c", "labels": ["X"], "key": "id", "colour": 1}]}, "nodes.0.colour"),
        ({"nodes": [{"name": "c", "labels": ["_graphsync_x"], "key": "id"}]}, "reserved"),
        (
            {"nodes": [{"name": "c", "labels": ["X"], "key": "id", "properties": {"exclude": ["id"]}}]},
            "the key column 'id' cannot be excluded",
        ),
        (
            {
                "nodes": [
                    {
                        "name": "c",
                        "labels": ["X"],
                        "key": "id",
                        "foreignKeys": [{"column": "p", "references": "nope", "type": "T"}],
                    }
                ]
            },
            "nodes[c].foreignKeys[0].references: unknown node mapping 'nope'",
        ),
    ],
)
def test_invalid_mapping_names_the_field(patch: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Mappings.model_validate(patch)
    assert message in str(error.value)


def _shop_with(**changes: Any) -> dict[str, Any]:
    spec = copy.deepcopy(SHOP)
    for path, value in changes.items():
        section, index, field = path.split("__")
        spec[section][int(index)][field] = value
    return spec


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (_shop_with(nodes__1__labels=["Customer"]), "nodes[orders].labels[0]: 'Customer' is already the first label"),
        (
            # The join table writes Customer-LIKES->Order; so would this foreign key, read backwards.
            _shop_with(
                nodes__1__foreignKeys=[
                    {"column": "customer_id", "references": "customer", "type": "LIKES", "direction": "incoming"}
                ]
            ),
            "relationships[likes]: (:Customer)-[:LIKES]->(:Order) is also written by nodes[orders].foreignKeys[0]",
        ),
        (
            _shop_with(
                nodes__1__foreignKeys=[
                    {"column": "customer_id", "references": "customer", "type": "PLACED_BY"},
                    {"column": "payer_id", "references": "customer", "type": "PLACED_BY"},
                ]
            ),
            "nodes[orders].foreignKeys[1]: (:Order)-[:PLACED_BY]->(:Customer) is also written by "
            "nodes[orders].foreignKeys[0]; give one another type",
        ),
    ],
)
def test_relationships_a_sink_could_not_tell_apart_are_refused(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        Mappings.model_validate(spec)
    assert message in str(error.value)


def test_a_self_reference_and_its_reverse_type_are_distinct() -> None:
    employee = {
        "name": "employee",
        "labels": ["Employee"],
        "key": "id",
        "foreignKeys": [
            {"column": "manager_id", "references": "employee", "type": "REPORTS_TO"},
            {"column": "mentor_id", "references": "employee", "type": "MENTORS", "direction": "incoming"},
        ],
    }
    assert len(Mappings.model_validate({"nodes": [employee]}).nodes[0].foreign_keys) == 2


def upsert(entity: str, key: Any, version: int, **data: Any) -> Change:
    return Change(entity=entity, key=key, op=Operation.UPSERT, version=version, data=data)


def delete(entity: str, key: Any, version: int) -> Change:
    return Change(entity=entity, key=key, op=Operation.DELETE, version=version)


def test_newest_keeps_the_highest_version_and_deletes_win_ties() -> None:
    changes = [upsert("customer", 1, 3, n="c"), upsert("customer", 1, 5, n="e"), upsert("customer", 1, 4, n="d")]
    assert [c.version for c in rows.newest(changes)] == [5]
    assert rows.newest([upsert("orders", 7, 2), delete("orders", 7, 2)])[0].op is Operation.DELETE
    # Keys of different types are different entities.
    assert len(rows.newest([upsert("orders", 7, 1), upsert("orders", "7", 1)])) == 2


def test_plan_selects_renames_and_keeps_foreign_keys() -> None:
    batch = rows.plan([upsert("orders", 9, 4, id=9, total_cents=1250, customer_id=3, note=None)], shop())
    orders = batch.nodes[1]
    assert orders.upserts == [
        {
            "key": 9,
            "tombstone": '["orders",9]',
            "version": 4,
            "props": {"id": 9, "total": 1250, "customer_id": 3},
            "fks": {"customer_id": 3},
        }
    ]


def test_plan_excludes_columns_and_builds_relationship_rows() -> None:
    batch = rows.plan(
        [upsert("customer", 1, 1, id=1, secret="x"), upsert("likes", [1, 9], 2, customer_id=1, order_id=9, stars=5)],
        shop(),
    )
    assert batch.nodes[0].upserts[0]["props"] == {"id": 1}
    assert batch.relationships[0].upserts == [
        {"source": 1, "target": 9, "tombstone": '["likes",[1,9]]', "version": 2, "props": {"stars": 5}}
    ]


def test_relationship_delete_recovers_endpoints_from_the_key() -> None:
    batch = rows.plan([delete("likes", [1, 9], 3)], shop())
    assert batch.relationships[0].deletes == [{"source": 1, "target": 9, "tombstone": '["likes",[1,9]]', "version": 3}]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (upsert("nobody", 1, 1), "no mapping for entity type 'nobody'"),
        (upsert("customer", 1, 1, id=1, address={"city": "Oslo"}), "property 'address' is a map"),
        (upsert("customer", 1, 1, id=1, blob=object()), "property 'blob' has a value of type object"),
        (upsert("likes", [1, 2], 1, customer_id=None, order_id=2), "column 'customer_id' (source of LIKES)"),
    ],
)
def test_unmappable_changes_are_errors_naming_the_entity(change: Change, message: str) -> None:
    with pytest.raises(rows.MappingError) as error:
        rows.plan([change], shop())
    assert message in str(error.value)
    assert change.describe() in str(error.value)
