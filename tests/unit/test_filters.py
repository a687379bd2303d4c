"""Row filters on plain data: what a condition accepts, how rows meet it, and what the sink and the
reconciliation make of a row it turns away."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from graphsync.change import Change, Operation
from graphsync.commands import specfile
from graphsync.compare.entries import node_entry, relationship_entry
from graphsync.connectors.postgres.columns import node_columns, relationship_columns
from graphsync.connectors.rows import MappingError, plan
from graphsync.spec.filters import Condition, admits
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import PipelineSpec
from tests.unit.test_pipeline_spec import BASE


def condition(column: str, operator: str, *values: Any) -> Condition:
    return Condition.model_validate({"column": column, "operator": operator, "values": list(values)})


MAPPINGS = Mappings.model_validate(
    {
        "nodes": [
            {
                "name": "customer",
                "labels": ["Customer"],
                "key": "id",
                "properties": {"include": ["name"]},
                "filter": [{"column": "tier", "operator": "In", "values": ["gold", "silver"]}],
            },
            {"name": "product", "labels": ["Product"], "key": "id"},
        ],
        "relationships": [
            {
                "name": "likes",
                "type": "LIKES",
                "from": {"column": "customer_id", "references": "customer"},
                "to": {"column": "product_id", "references": "product"},
                "key": ["customer_id", "product_id"],
                "filter": [{"column": "stars", "operator": "Ge", "values": [3]}],
            }
        ],
    }
)


@pytest.mark.parametrize(
    ("made", "row", "holds"),
    [
        (("tier", "In", "gold", "silver"), {"tier": "gold"}, True),
        (("tier", "In", "gold"), {"tier": "bronze"}, False),
        (("tier", "In", "gold"), {}, False),
        (("tier", "NotIn", "gold"), {"tier": None}, True),
        (("tier", "NotIn", "gold"), {"tier": "gold"}, False),
        (("deleted_at", "DoesNotExist"), {"deleted_at": None}, True),
        (("deleted_at", "Exists"), {"deleted_at": "2026-01-01"}, True),
        (("deleted_at", "Exists"), {}, False),
        (("stars", "Gt", 3), {"stars": 4}, True),
        (("stars", "Gt", 3), {"stars": 3}, False),
        (("stars", "Ge", 3), {"stars": 3.0}, True),
        (("stars", "Lt", 3), {"stars": None}, False),
        (("name", "Le", "m"), {"name": "apple"}, True),
        (("active", "In", True), {"active": 1}, False),
        (("code", "In", 1), {"code": "1"}, False),
        (("active", "In", True), {"active": True}, True),
    ],
)
def test_a_row_meets_a_condition_as_a_label_selector_would(
    made: tuple[Any, ...], row: dict[str, Any], holds: bool
) -> None:
    assert condition(*made).holds(row) is holds


def test_conditions_are_all_met_and_none_admits_every_row() -> None:
    both = [condition("tier", "In", "gold"), condition("stars", "Ge", 3)]
    assert admits(both, {"tier": "gold", "stars": 5})
    assert not admits(both, {"tier": "gold", "stars": 1})
    assert admits([], {"anything": 1})


def test_a_comparison_of_two_kinds_is_an_error_not_a_silent_miss() -> None:
    with pytest.raises(ValueError, match="column 'stars' holds 'many', which Ge cannot compare with 3"):
        condition("stars", "Ge", 3).holds({"stars": "many"})


@pytest.mark.parametrize(
    ("filter_", "message"),
    [
        ([{"column": "tier", "operator": "In"}], "operator In needs at least one value"),
        ([{"column": "tier", "operator": "Exists", "values": [1]}], "operator Exists takes no values"),
        ([{"column": "stars", "operator": "Gt", "values": [1, 2]}], "operator Gt compares with exactly one value"),
        ([{"column": "stars", "operator": "Gt", "values": [True]}], "compares numbers or text, not true/false"),
        ([{"column": "tier", "operator": "Like", "values": ["g%"]}], "mappings.nodes[0].filter[0].operator"),
        ([{"column": "bad column", "operator": "Exists"}], "mappings.nodes[0].filter[0].column"),
    ],
)
def test_a_filter_that_cannot_be_evaluated_is_refused_naming_it(filter_: list[dict[str, Any]], message: str) -> None:
    document = {**BASE, "mappings": {"nodes": [{"name": "customer", "labels": ["C"], "key": "id", "filter": filter_}]}}
    with pytest.raises(ValidationError) as caught:
        PipelineSpec.model_validate(document)
    assert message in specfile.format_errors(caught.value)


def test_a_bidirectional_pipeline_takes_no_filter() -> None:
    document = {
        **BASE,
        "mode": "bidirectional",
        "transport": None,
        "mappings": {
            "nodes": [{"name": "c", "labels": ["C"], "key": "id", "filter": [{"column": "x", "operator": "Exists"}]}]
        },
    }
    with pytest.raises(ValidationError, match="filter: a bidirectional pipeline keeps both sides whole"):
        PipelineSpec.model_validate({k: v for k, v in document.items() if v is not None})


def upsert(entity: str, key: Any, **data: Any) -> Change:
    return Change(entity, key, Operation.UPSERT, 7, data)


def test_the_sink_deletes_what_the_filter_turns_away() -> None:
    rows = plan(
        [
            upsert("customer", 1, id=1, name="Ada", tier="gold"),
            upsert("customer", 2, id=2, name="Bo", tier="bronze"),
            upsert("likes", [1, 9], customer_id=1, product_id=9, stars=2),
            upsert("likes", [1, 8], customer_id=1, product_id=8, stars=4),
            Change("customer", 3, Operation.DELETE, 7, {}),
        ],
        MAPPINGS,
    )
    customers, _ = rows.nodes
    assert [row["key"] for row in customers.upserts] == [1]
    assert [row["key"] for row in customers.deletes] == [2, 3]
    assert customers.upserts[0]["props"] == {"id": 1, "name": "Ada"}
    [likes] = rows.relationships
    assert [(row["source"], row["target"]) for row in likes.upserts] == [(1, 8)]
    assert [(row["source"], row["target"]) for row in likes.deletes] == [(1, 9)]


def test_a_value_the_filter_cannot_compare_is_a_poison_record_named() -> None:
    with pytest.raises(MappingError, match=r"likes:\[1, 9\].*column 'stars' holds 'x'"):
        plan([upsert("likes", [1, 9], customer_id=1, product_id=9, stars="x")], MAPPINGS)


def test_the_reconciliation_sees_no_entity_in_a_row_turned_away() -> None:
    customer, _ = MAPPINGS.nodes
    [likes] = MAPPINGS.relationships
    assert node_entry(customer, upsert("customer", 2, id=2, name="Bo", tier=None)) is None
    assert node_entry(customer, upsert("customer", 1, id=1, name="Ada", tier="gold")) is not None
    assert relationship_entry(likes, upsert("likes", [1, 9], customer_id=1, product_id=9, stars=1)) is None


def test_the_filter_columns_leave_postgresql_even_when_not_properties() -> None:
    customer, _ = MAPPINGS.nodes
    assert node_columns(customer).keep == ("id", "tier", "name")
    [likes] = MAPPINGS.relationships
    assert "stars" not in relationship_columns(likes).drop
