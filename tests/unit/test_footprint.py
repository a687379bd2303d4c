"""What a batch locks on a graph target, named ahead so two batches of a run are applied at once only apart."""

from __future__ import annotations

import copy

from graphsync.change import Change, Operation
from graphsync.connectors import rows
from graphsync.connectors.footprint import footprint
from graphsync.spec.mapping import Mappings
from tests.unit.test_mapping import SHOP, shop


def upsert(entity: str, key: object, **data: object) -> Change:
    return Change(entity=entity, key=key, op=Operation.UPSERT, version=1, data={"id": key, **data})


def test_node_upserts_and_relationships_keyed_by_their_ends_lock_the_nodes_they_name() -> None:
    batch = [upsert("customer", 1), upsert("customer", "a"), upsert("likes", [2, 7], customer_id=2, order_id=7)]
    assert footprint(rows.plan(batch, shop())) == frozenset(
        {
            ("customer", 1),
            ("customer", "a"),
            ("customer", 2),
            ("orders", 7),
        }
    )


def test_a_list_valued_end_is_named_by_its_value() -> None:
    batch = [upsert("likes", [12, 3], customer_id=[1, 2], order_id=[3])]
    assert footprint(rows.plan(batch, shop())) == frozenset({("customer", "[1,2]"), ("orders", "[3]")})


def test_writes_whose_locks_the_rows_do_not_name_have_no_footprint() -> None:
    delete = Change(entity="customer", key=1, op=Operation.DELETE, version=2)
    # A foreign key's former target is dropped as an orphan; the rows do not name it.
    order = upsert("orders", 5, customer_id=1)
    unlike = Change(entity="likes", key=[1, 5], op=Operation.DELETE, version=2, data={"customer_id": 1, "order_id": 5})
    for batch in ([upsert("customer", 2), delete], [order], [unlike]):
        assert footprint(rows.plan(batch, shop())) is None
    spec = copy.deepcopy(SHOP)
    spec["relationships"][0]["key"] = ["customer_id"]
    keyed_apart = rows.plan([upsert("likes", 1, customer_id=1, order_id=5)], Mappings.model_validate(spec))
    # Its former ends (the same key, other ends) are unknown.
    assert footprint(keyed_apart) is None


def test_a_batch_not_staged_has_no_footprint() -> None:
    assert footprint(None) is None
