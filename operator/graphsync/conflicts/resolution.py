"""Conflict detection and resolution: pure functions, the same answer for the same input on every worker.

A conflict is an entity both sides changed since the last sync, known from the
versions each side had when it was last synced. Which write is later comes from
the sides' timestamps; writes closer than the clock skew are concurrent, and a
digest of their contents breaks the tie, so the decision does not depend on
which side asks (a bidirectional pipeline decides the same way in both directions).
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphsync.spec.conflicts import ConflictPolicySpec, FieldRule, MergeRules, Strategy


class Side(enum.StrEnum):
    SOURCE = "source"
    TARGET = "target"


@dataclass(frozen=True)
class Revision:
    """One side's state of an entity: its version on that side, when it was written, and its data (None: deleted)."""

    side: Side
    version: int
    written_at_ms: int
    data: Mapping[str, Any] | None = field(default=None)


@dataclass(frozen=True)
class Synced:
    """The versions both sides had when the entity was last synced, and the data they agreed on."""

    source_version: int
    target_version: int
    data: Mapping[str, Any] | None = None


class Action(enum.StrEnum):
    # Write the resolved data to both sides (each write is version-guarded, so applying it twice is harmless).
    APPLY = "apply"
    # Keep both versions for a person to choose; nothing is written.
    HOLD = "hold"


@dataclass(frozen=True)
class Resolution:
    action: Action
    data: Mapping[str, Any] | None = None
    reason: str = ""


def in_conflict(synced: Synced | None, source: Revision, target: Revision) -> bool:
    """Both sides changed since the last sync (never synced and both present also counts, unless equal)."""
    if synced is None:
        return source.data != target.data
    changed_source = source.version > synced.source_version
    changed_target = target.version > synced.target_version
    return changed_source and changed_target and source.data != target.data


def later(a: Revision, b: Revision, *, clock_skew_ms: int) -> Revision:
    """The later write; within the clock skew, the one whose contents digest higher (order-insensitive)."""
    if abs(a.written_at_ms - b.written_at_ms) > clock_skew_ms:
        return a if a.written_at_ms > b.written_at_ms else b
    key_a, key_b = (_digest(a.data), a.side.value), (_digest(b.data), b.side.value)
    return a if key_a > key_b else b


def resolve(
    policy: ConflictPolicySpec, entity: str, source: Revision, target: Revision, synced: Synced | None
) -> Resolution:
    chosen = policy.for_entity(entity)
    strategy = chosen.strategy
    if strategy is Strategy.MANUAL:
        return Resolution(Action.HOLD, None, "held for manual review")
    if strategy is Strategy.SOURCE_WINS:
        return Resolution(Action.APPLY, source.data, "source wins")
    if strategy is Strategy.TARGET_WINS:
        return Resolution(Action.APPLY, target.data, "target wins")
    winner = later(source, target, clock_skew_ms=policy.clock_skew_ms)
    if strategy is Strategy.LAST_WRITE_WINS or source.data is None or target.data is None:
        # A delete against an update is decided by time under every strategy: there is nothing to merge.
        return Resolution(Action.APPLY, winner.data, f"last write ({winner.side.value})")
    rules = chosen.merge or MergeRules()
    base = synced.data if synced is not None else None
    try:
        merged = merge(source.data, target.data, base, rules, winner=winner.side)
    except ValueError as exc:
        # A value the rule cannot combine (text under `sum`) is for a person to settle, not a crash at every pass.
        return Resolution(Action.HOLD, None, f"cannot merge: {exc}")
    return Resolution(Action.APPLY, merged, "merged")


def merge(
    source: Mapping[str, Any],
    target: Mapping[str, Any],
    base: Mapping[str, Any] | None,
    rules: MergeRules,
    *,
    winner: Side,
) -> dict[str, Any]:
    """Each property by its rule; a property absent from the result is absent from the entity."""
    out: dict[str, Any] = {}
    for name in sorted(source.keys() | target.keys()):
        rule = rules.fields.get(name, rules.default)
        value = merge_field(rule, source.get(name), target.get(name), (base or {}).get(name), winner=winner)
        if value is not None:
            out[name] = value
    return out


def merge_field(rule: FieldRule, source: Any, target: Any, base: Any, *, winner: Side) -> Any:
    if rule is FieldRule.SOURCE or (rule is FieldRule.LAST_WRITE and winner is Side.SOURCE):
        return source
    if rule in (FieldRule.TARGET, FieldRule.LAST_WRITE):
        return target
    present = [v for v in (source, target) if v is not None]
    if not present:
        return None
    return _COMBINE[rule](present, base)


def _max(present: list[Any], _base: Any) -> Any:
    return max(present, key=_order)


def _union(present: list[Any], _base: Any) -> list[Any]:
    items = [item for value in present for item in (value if isinstance(value, list) else [value])]
    unique = {_canonical(item): item for item in items}
    return [unique[key] for key in sorted(unique)]


def _sum(present: list[Any], base: Any) -> Any:
    """Both sides' changes since the shared base are added to it."""
    if not all(_number(v) for v in present):
        raise ValueError(f"sum applies to numbers, not {', '.join(repr(v) for v in present)}")
    if len(present) == 1:
        return present[0]
    return present[0] + present[1] - (base if _number(base) else 0)


_COMBINE = {FieldRule.MAX: _max, FieldRule.UNION: _union, FieldRule.SUM: _sum}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _order(value: Any) -> tuple[str, Any, str]:
    """A total order: numbers by value, other values within their type, types by name; ties by canonical text."""
    if _number(value):
        return ("number", value, _canonical(value))
    return (type(value).__name__, value if isinstance(value, str | bool) else "", _canonical(value))


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _digest(data: Mapping[str, Any] | None) -> str:
    return hashlib.sha256(_canonical(data).encode()).hexdigest()
