"""What a bidirectional pass does with one entity, from three digests: each side's now, and the one both
sides agreed on at the last sync (the ledger's base). Pure.

Only the side that moved away from the base has changed, so its state is copied
to the other; both moved (differently) is a conflict for the policy. A write the
pass makes becomes the new base on both sides, so the next pass sees nothing to
do: an entity is never sent back to where it came from.
"""

from __future__ import annotations

import enum

from graphsync.spec.mapping import Mappings


class Step(enum.StrEnum):
    NOTHING = "nothing"
    # Both sides agree, but not with the base (first sight, or both made the same change): record it.
    RECORD = "record"
    # Gone from both sides: drop the base.
    FORGET = "forget"
    TO_TARGET = "toTarget"
    TO_SOURCE = "toSource"
    CONFLICT = "conflict"
    # On one side only, with no ledger to say whether it is new there or deleted on the other: held.
    UNSURE = "unsure"


def decide(source: int | None, target: int | None, base: int | None) -> Step:
    """`None` is an absent entity (or, for `base`, one never synced)."""
    if source == target:
        if source is None:
            return Step.FORGET if base is not None else Step.NOTHING
        return Step.NOTHING if source == base else Step.RECORD
    if base is None:
        # Never synced: an entity on one side only is new there; on both, differing, is a conflict.
        return _first_sight(source, target)
    source_changed, target_changed = source != base, target != base
    if source_changed != target_changed:
        return Step.TO_TARGET if source_changed else Step.TO_SOURCE
    return Step.CONFLICT


def decide_owing(source: int | None, target: int | None, base: int | None, owing: str, held: int | None) -> Step:
    """`decide`, when the last pass's write reached one side only (`owing`, which held `held` then; see
    `held.Owed`). Unchanged since, that side counts as holding the base, and is written what the other side
    holds; changed since, its edit was made on what it held, not on the base, so it is a conflict merged from
    `held` (a `sum` adds each side's change once, however many passes a refused write took)."""
    if source == target:
        # Both hold the same now (the owed write made some other way): that is the base, nothing is owed.
        return Step.FORGET if source is None else Step.RECORD
    mine, other = (source, target) if owing == "source" else (target, source)
    if mine != held:
        return Step.CONFLICT
    step = decide(base, other, base) if owing == "source" else decide(other, base, base)
    if step in (Step.NOTHING, Step.RECORD):
        return Step.TO_SOURCE if owing == "source" else Step.TO_TARGET
    return step


def decide_without_ledger(source: int | None, target: int | None) -> Step:
    """`decide` when the ledger cannot be trusted (see `conflicts.mark`), or for an entity held for that: one
    on both sides is compared as at first sight; one on a single side is UNSURE (new there, or deleted on the
    other side?) and copied nowhere, so no delete is undone and no side loses what it has."""
    if (source is None) != (target is None):
        return Step.UNSURE
    return decide(source, target, None)


def _first_sight(source: int | None, target: int | None) -> Step:
    if target is None:
        return Step.TO_TARGET
    if source is None:
        return Step.TO_SOURCE
    return Step.CONFLICT


def write_order(mappings: Mappings) -> list[str]:
    """Entity types in the order a pass upserts them: a node type after the ones its foreign keys point
    at (a cycle keeps the mappings' order), then relationship types, whose ends are nodes."""
    pending = list(mappings.nodes)
    ordered: list[str] = []
    while pending:
        ready = [n for n in pending if all(fk.references in (*ordered, n.name) for fk in n.foreign_keys)]
        chosen = ready[0] if ready else pending[0]
        ordered.append(chosen.name)
        pending.remove(chosen)
    return ordered + [r.name for r in mappings.relationships]
