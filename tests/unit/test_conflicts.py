"""Conflict policies: validation names the field; resolution is deterministic, and merge rules keep their promises.

Property-based (hypothesis): swapping which side is the source never changes a
last-write or merge result; union and max are idempotent; everything is
deterministic.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from graphsync.conflicts.resolution import (
    Action,
    Revision,
    Side,
    Synced,
    in_conflict,
    later,
    merge,
    resolve,
)
from graphsync.spec.conflicts import ConflictPolicySpec, FieldRule, MergeRules

VALUES = st.one_of(st.integers(-1000, 1000), st.text(max_size=5), st.lists(st.integers(0, 9), max_size=4))
DATA = st.dictionaries(st.sampled_from(["a", "b", "c", "tags"]), VALUES, max_size=4)
NUMBERS = st.dictionaries(st.sampled_from(["n", "m"]), st.integers(-1000, 1000), min_size=1)


def revision(side: Side, data: dict[str, Any] | None, at: int, version: int = 2) -> Revision:
    return Revision(side=side, version=version, written_at_ms=at, data=data)


def swapped(r: Revision) -> Revision:
    other = Side.TARGET if r.side is Side.SOURCE else Side.SOURCE
    return Revision(other, r.version, r.written_at_ms, r.data)


POLICIES = {
    "lww": ConflictPolicySpec.model_validate({"strategy": "lastWriteWins"}),
    "merge": ConflictPolicySpec.model_validate(
        {"strategy": "merge", "merge": {"default": "lastWrite", "fields": {"tags": "union", "a": "max"}}}
    ),
}


# Generation is slow on a loaded 2-core machine; the examples are cheap to check.
RELAXED = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("name", sorted(POLICIES))
@RELAXED
@given(s=DATA, t=DATA, s_at=st.integers(0, 5000), t_at=st.integers(0, 5000))
def test_which_side_asks_never_changes_the_outcome(
    name: str, s: dict[str, Any], t: dict[str, Any], s_at: int, t_at: int
) -> None:
    policy = POLICIES[name]
    source, target = revision(Side.SOURCE, s, s_at), revision(Side.TARGET, t, t_at)
    forward = resolve(policy, "person", source, target, None)
    backward = resolve(policy, "person", swapped(target), swapped(source), None)
    assert forward.data == backward.data
    assert resolve(policy, "person", source, target, None) == forward


@RELAXED
@given(s=DATA, t=DATA, winner=st.sampled_from(list(Side)))
def test_union_and_max_are_idempotent_and_order_insensitive(s: dict[str, Any], t: dict[str, Any], winner: Side) -> None:
    for rule in (FieldRule.UNION, FieldRule.MAX):
        rules = MergeRules(default=rule)
        once = merge(s, t, None, rules, winner=winner)
        assert merge(t, s, None, rules, winner=winner) == once
        assert merge(once, t, None, rules, winner=winner) == once
        assert merge(once, once, None, rules, winner=winner) == once


@RELAXED
@given(base=NUMBERS, d1=NUMBERS, d2=NUMBERS)
def test_sum_adds_both_sides_changes_to_the_base_in_any_order(
    base: dict[str, int], d1: dict[str, int], d2: dict[str, int]
) -> None:
    source = {k: base.get(k, 0) + d1.get(k, 0) for k in base}
    target = {k: base.get(k, 0) + d2.get(k, 0) for k in base}
    rules = MergeRules(default=FieldRule.SUM)
    merged = merge(source, target, base, rules, winner=Side.SOURCE)
    assert merged == {k: base[k] + d1.get(k, 0) + d2.get(k, 0) for k in base}
    assert merge(target, source, base, rules, winner=Side.TARGET) == merged


def test_clock_skew_makes_close_writes_concurrent_and_the_tiebreak_symmetric() -> None:
    a, b = revision(Side.SOURCE, {"v": 1}, 1000), revision(Side.TARGET, {"v": 2}, 1400)
    assert later(a, b, clock_skew_ms=100) is b
    tied = later(a, b, clock_skew_ms=1000)
    assert later(b, a, clock_skew_ms=1000) is tied


def test_strategies() -> None:
    source, target = revision(Side.SOURCE, {"v": "s"}, 10_000), revision(Side.TARGET, {"v": "t"}, 1)
    synced = Synced(source_version=1, target_version=1, data={"v": "old"})
    outcome = {
        strategy: resolve(ConflictPolicySpec.model_validate({"strategy": strategy}), "e", source, target, synced)
        for strategy in ("lastWriteWins", "sourceWins", "targetWins", "manual")
    }
    assert outcome["lastWriteWins"].data == {"v": "s"}
    assert outcome["sourceWins"].data == {"v": "s"}
    assert outcome["targetWins"].data == {"v": "t"}
    assert outcome["manual"].action is Action.HOLD


def test_a_delete_against_an_update_goes_by_time_even_when_merging() -> None:
    policy = POLICIES["merge"]
    deleted, edited = revision(Side.SOURCE, None, 5000), revision(Side.TARGET, {"a": 1}, 100)
    assert resolve(policy, "e", deleted, edited, None).data is None
    assert resolve(policy, "e", deleted, revision(Side.TARGET, {"a": 1}, 9000), None).data == {"a": 1}


def test_per_entity_overrides() -> None:
    policy = ConflictPolicySpec.model_validate(
        {"strategy": "sourceWins", "entities": {"order": {"strategy": "manual"}}}
    )
    source, target = revision(Side.SOURCE, {"v": 1}, 1), revision(Side.TARGET, {"v": 2}, 2)
    assert resolve(policy, "order", source, target, None).action is Action.HOLD
    assert resolve(policy, "person", source, target, None).data == {"v": 1}


def test_conflict_detection_from_per_side_versions() -> None:
    synced = Synced(source_version=5, target_version=7)
    assert in_conflict(synced, revision(Side.SOURCE, {"v": 1}, 0, 6), revision(Side.TARGET, {"v": 2}, 0, 8))
    assert not in_conflict(synced, revision(Side.SOURCE, {"v": 1}, 0, 6), revision(Side.TARGET, {"v": 2}, 0, 7))
    assert not in_conflict(synced, revision(Side.SOURCE, {"v": 1}, 0, 6), revision(Side.TARGET, {"v": 1}, 0, 8))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"strategy": "sourceWins", "merge": {"default": "max"}},
            "merge: rules apply to strategy merge, not sourceWins",
        ),
        ({"strategy": "merge", "merge": {"fields": {"a": "average"}}}, "merge.fields.a"),
        ({"strategy": "eventually"}, "strategy"),
        ({"entities": {"bad name": {"strategy": "manual"}}}, "entities.bad name"),
        ({"clockSkewMs": -1}, "clockSkewMs"),
    ],
)
def test_an_invalid_policy_names_the_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as error:
        ConflictPolicySpec.model_validate(document)
    assert message in str(error.value).replace("\n  ", " ").replace("\n", " ")


def test_a_value_the_merge_rule_cannot_combine_is_held_with_the_reason() -> None:
    policy = ConflictPolicySpec.model_validate({"strategy": "merge", "merge": {"fields": {"n": "sum"}}})
    source, target = revision(Side.SOURCE, {"n": 3}, 10), revision(Side.TARGET, {"n": "lots"}, 20)
    held = resolve(policy, "e", source, target, Synced(1, 1, {"n": 1}))
    assert held.action is Action.HOLD
    assert held.reason == "cannot merge: sum applies to numbers, not 3, 'lots'"
