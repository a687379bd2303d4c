"""Reconciliation's pure parts: digests, bucket hashes, comparison, outcomes, bucket sizes, job validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from graphsync.change import Change, Operation
from graphsync.compare.entries import (
    Entry,
    bucket_hash,
    compare,
    node_entry,
    target_node_entry,
    target_relationship_entry,
)
from graphsync.connectors.graphs.reading import digest
from graphsync.reconcile.report import Outcome, outcome
from graphsync.spec.mapping import Mappings
from graphsync.spec.reconcile import MAX_BUCKET, MIN_BUCKET, Action, ReconcileSpec, bucket_size
from graphsync_dev import sample

# The demo's shop: customer (labels Customer, Person), product, orders (a PLACED_BY foreign key), likes.
MAPPINGS = Mappings.model_validate(sample.mappings("shop"))
ORDERS = MAPPINGS.nodes[2]


def order(**data: object) -> Change:
    return Change("orders", data["id"], Operation.UPSERT, 0, data)


def test_a_source_row_and_the_node_a_sync_wrote_for_it_have_one_digest() -> None:
    source = node_entry(ORDERS, order(id=7, customer_id=3, total_cents=250, note=None))
    target = target_node_entry(
        ORDERS,
        7,
        {"id": 7, "customer_id": 3, "total": 250, "_graphsync_version": 12},
        ["Order"],
        [[3]],
    )
    assert source is not None
    assert target is not None
    assert (source.ident, source.digest) == (target.ident, target.digest)
    assert target.version == 12


@pytest.mark.parametrize(
    ("props", "labels", "ends"),
    [
        ({"id": 7, "customer_id": 3, "total": 251}, ["Order"], [[3]]),  # an edited property
        ({"id": 7, "customer_id": 3}, ["Order"], [[3]]),  # a removed one
        ({"id": 7, "customer_id": 3, "total": 250}, ["Order"], [[]]),  # its relationship gone
        ({"id": 7, "customer_id": 3, "total": 250}, ["Order"], [[3, 4]]),  # a second one
        ({"id": 7, "customer_id": 3, "total": 250}, [], [[3]]),  # its label gone
    ],
)
def test_each_kind_of_drift_changes_the_digest(
    props: dict[str, object], labels: list[str], ends: list[list[int]]
) -> None:
    source = node_entry(ORDERS, order(id=7, customer_id=3, total_cents=250))
    target = target_node_entry(ORDERS, 7, {**props, "_graphsync_version": 1}, labels, ends)
    assert source is not None
    assert target is not None
    assert target.digest != source.digest


def test_a_placeholder_is_no_entity_but_a_node_written_by_hand_is() -> None:
    assert target_node_entry(MAPPINGS.nodes[0], 5, {"id": 5}, ["Customer"], []) is None
    made = target_node_entry(MAPPINGS.nodes[0], 5, {"id": 5, "name": "x"}, ["Customer"], [])
    assert made is not None
    assert made.version == -1


def test_digests_agree_on_values_each_database_returns_its_own_way() -> None:
    aware = datetime(2024, 1, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    assert digest({"at": aware}) == digest({"at": aware.astimezone(UTC)})
    assert digest({"x": 0.1 + 0.2}) == digest({"x": 0.300000000000000})
    assert digest({"d": date(2024, 1, 1)}) != digest({"d": "2024-01-01"})
    assert digest({"n": 1}) != digest({"n": True})


def test_a_relationship_is_known_by_the_identity_the_sink_wrote_or_else_by_its_key() -> None:
    likes = MAPPINGS.relationships[0]
    written = target_relationship_entry(likes, 1, 2, {"_graphsync_key": '["likes",[1,2]]', "stars": 3})
    by_hand = target_relationship_entry(likes, 1, 2, {"stars": 3})
    assert written.ident == by_hand.ident == '["likes",[1,2]]'
    assert by_hand.delete_data == {"customer_id": 1, "product_id": 2}


def entries(**digests: int) -> dict[str, Entry]:
    return {ident: Entry(ident, ident, value, {}) for ident, value in digests.items()}


def test_a_bucket_hash_ignores_order_and_sees_any_change() -> None:
    left = entries(a=1, b=2, c=3)
    assert bucket_hash(left.values()) == bucket_hash(reversed(list(left.values())))
    assert bucket_hash(left.values()) != bucket_hash(entries(a=1, b=2, c=4).values())
    # Swapping digests between entities is a difference too.
    assert bucket_hash(entries(a=1, b=2).values()) != bucket_hash(entries(a=2, b=1).values())


def test_compare_names_missing_extra_and_different() -> None:
    found = compare(entries(a=1, b=2, c=3), entries(b=2, c=4, d=5))
    assert [e.ident for e in found.missing] == ["a"]
    assert [e.ident for e in found.extra] == ["d"]
    assert [(s.ident, t.digest) for s, t in found.different] == [("c", 4)]


@pytest.mark.parametrize(
    ("action", "differences", "failed", "error", "expected"),
    [
        (Action.REPORT, 0, 0, None, Outcome.IN_SYNC),
        (Action.REPORT, 3, 0, None, Outcome.DRIFT),
        (Action.REPAIR, 3, 0, None, Outcome.REPAIRED),
        (Action.REPAIR, 3, 1, None, Outcome.PARTIAL),
        (Action.REPAIR, 0, 0, "boom", Outcome.FAILED),
    ],
)
def test_outcome(action: Action, differences: int, failed: int, error: str | None, expected: Outcome) -> None:
    assert outcome(action, differences, failed, error) is expected


def test_buckets_split_the_data_but_stay_within_bounds() -> None:
    assert bucket_size(1_000_000, 1024) == 977 if MIN_BUCKET <= 977 else MIN_BUCKET
    assert bucket_size(10_000_000, 1000) == 10_000
    assert bucket_size(10**9, 10) == MAX_BUCKET
    assert bucket_size(50, 1024) == MIN_BUCKET


def test_a_job_is_checked_against_the_pipeline_naming_the_item() -> None:
    with pytest.raises(ValueError, match=r"scope.entities\[0\]: 'nope' is no entity type"):
        ReconcileSpec.model_validate({"scope": {"entities": ["nope"]}}).check_against(MAPPINGS)
    with pytest.raises(ValidationError, match="ids: name the node entity types"):
        ReconcileSpec.model_validate({"scope": {"ids": [1]}})
    with pytest.raises(ValidationError, match="bucketCount"):
        ReconcileSpec.model_validate({"bucketCount": 0})
    job = ReconcileSpec.model_validate({"scope": {"entities": ["likes", "customer"]}})
    assert job.chosen(MAPPINGS) == ["customer", "likes"]
