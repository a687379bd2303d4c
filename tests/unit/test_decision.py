"""What a bidirectional pass does per entity: the decision table, and that repeated passes converge and stop."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphsync.conflicts.decision import Step, decide, decide_owing, decide_without_ledger, write_order
from graphsync.conflicts.held import Base, Owed
from graphsync.conflicts.mark import Trust, judge
from graphsync.spec.mapping import Mappings


@pytest.mark.parametrize(
    ("source", "target", "base", "step"),
    [
        (None, None, None, Step.NOTHING),
        (None, None, 1, Step.FORGET),
        (1, 1, 1, Step.NOTHING),
        (2, 2, 1, Step.RECORD),  # both made the same change
        (1, 1, None, Step.RECORD),  # first sight, already equal
        (1, None, None, Step.TO_TARGET),  # new in the source
        (None, 1, None, Step.TO_SOURCE),  # new in the target
        (1, 2, None, Step.CONFLICT),  # never synced, both present, different
        (2, 1, 1, Step.TO_TARGET),  # edited in the source
        (1, 2, 1, Step.TO_SOURCE),  # edited in the target
        (None, 1, 1, Step.TO_TARGET),  # deleted in the source: the delete goes over
        (1, None, 1, Step.TO_SOURCE),  # deleted in the target
        (2, 3, 1, Step.CONFLICT),  # both edited
        (None, 2, 1, Step.CONFLICT),  # deleted in one, edited in the other
    ],
)
def test_decision_table(source: int | None, target: int | None, base: int | None, step: Step) -> None:
    assert decide(source, target, base) is step


digests = st.none() | st.integers(min_value=0, max_value=3)


@given(source=digests, target=digests, base=digests)
def test_a_pass_leaves_both_sides_equal_to_the_base_or_holds_a_conflict(
    source: int | None, target: int | None, base: int | None
) -> None:
    """Simulate a pass (copying, recording, a conflict settled for the source), then a second pass: it does nothing."""
    step = decide(source, target, base)
    if step is Step.TO_TARGET:
        target = source
    elif step is Step.TO_SOURCE:
        source = target
    elif step is Step.CONFLICT:
        target = source
    base = source
    assert decide(source, target, base) is Step.NOTHING or (source is None and base is None)
    # Swapping the sides swaps the direction, never the kind of decision.
    mirrored = {Step.TO_TARGET: Step.TO_SOURCE, Step.TO_SOURCE: Step.TO_TARGET}
    assert decide(target, source, base) is mirrored.get(decide(source, target, base), decide(source, target, base))


def test_a_pass_writes_parents_before_children() -> None:
    mappings = Mappings.model_validate(
        {
            "nodes": [
                {
                    "name": "orders",
                    "labels": ["Order"],
                    "key": "id",
                    "foreignKeys": [{"column": "customer_id", "references": "customer", "type": "PLACED_BY"}],
                },
                {
                    "name": "customer",
                    "labels": ["Customer"],
                    "key": "id",
                    "foreignKeys": [{"column": "referrer", "references": "customer", "type": "REFERRED_BY"}],
                },
            ],
            "relationships": [
                {
                    "name": "likes",
                    "type": "LIKES",
                    "from": {"column": "a", "references": "customer"},
                    "to": {"column": "b", "references": "orders"},
                    "key": ["a", "b"],
                }
            ],
        }
    )
    assert write_order(mappings) == ["customer", "orders", "likes"]


# The last pass wrote 8 to both sides (base 8); one side refused it and still holds 3.
@pytest.mark.parametrize(
    ("owing", "source", "target", "step"),
    [
        ("source", 3, 8, Step.TO_SOURCE),  # unchanged since: the write is owed again, nothing merged twice
        ("target", 8, 3, Step.TO_TARGET),
        ("source", 3, 9, Step.TO_SOURCE),  # the other side moved on: its newest state goes over
        ("source", 3, None, Step.TO_SOURCE),  # ... or its delete
        ("source", 4, 8, Step.CONFLICT),  # edited on what it held: merged from that
        ("target", 8, 4, Step.CONFLICT),
        ("source", 8, 8, Step.RECORD),  # taken some other way: nothing is owed any more
        ("source", None, None, Step.FORGET),
    ],
)
def test_a_side_that_owes_the_last_write_is_written_it_or_merged_from_what_it_held(
    owing: str, source: int | None, target: int | None, step: Step
) -> None:
    assert decide_owing(source, target, 8, owing, 3) is step


def test_a_ledger_base_keeps_what_is_owed_inside_its_data() -> None:
    owed = Base(8, {"total": 108}, Owed("source", 3, {"total": 103}))
    assert owed.stored() == {"total": 108, ":owed": {"side": "source", "digest": 3, "data": {"total": 103}}}
    assert Base.of(8, owed.stored()) == owed
    assert Base.of(8, {"total": 108}) == Base(8, {"total": 108})


@pytest.mark.parametrize(
    ("in_ledger", "on_target", "trust"),
    [
        (None, None, Trust.FIRST),  # a first pass, or after a cleanup (which removes both)
        (7, 7, Trust.TRUSTED),
        (None, 7, Trust.LOST),  # the ledger went (Redis without persistence, an eviction)
        (7, None, Trust.LOST),  # the target graph was wiped or restored apart
        (7, 8, Trust.LOST),  # one of them restored from an older copy
    ],
)
def test_the_ledger_is_trusted_only_with_the_token_the_target_holds(
    in_ledger: int | None, on_target: int | None, trust: Trust
) -> None:
    assert judge(in_ledger, on_target) is trust


@pytest.mark.parametrize(
    ("source", "target", "step"),
    [
        (1, None, Step.UNSURE),  # new in the source, or deleted in the target? Copied nowhere.
        (None, 1, Step.UNSURE),
        (1, 1, Step.RECORD),
        (1, 2, Step.CONFLICT),
        (None, None, Step.NOTHING),
    ],
)
def test_without_a_ledger_a_side_only_entity_is_never_copied(
    source: int | None, target: int | None, step: Step
) -> None:
    assert decide_without_ledger(source, target) is step
