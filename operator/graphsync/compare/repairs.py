"""What makes the target equal the source, difference by difference, and at which version (pure).

A repair's version is one above what the target holds (and, where they were read,
above the delete recorded for the entity), so it wins over the drift without
outranking the next real change; the source's own version when that is higher.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from graphsync.change import Change, Operation
from graphsync.compare.entries import Differences, Entry


@dataclass(frozen=True)
class Repair:
    """A change a repair writes, with the entry it repairs (to find it again on both sides)."""

    entry: Entry
    change: Change


def repairs(entity: str, found: Differences, tombstones: Mapping[str, int] | None = None) -> list[Repair]:
    """Upserts of what the target lacks or holds otherwise, deletes of what only it holds. `tombstones`: the
    versions of the deletes recorded for these entities (one written by hand may have a tombstone and no
    version); None when they were not read, and an entity the target lacks then keeps its own version."""

    def above(entry: Entry) -> int:
        if tombstones is None:
            return entry.version + 1
        return max(entry.version, tombstones.get(entry.ident, -1)) + 1

    def lacking(entry: Entry) -> Change:
        assert entry.change is not None
        if tombstones is None:
            return entry.change
        return _at_least(entry, tombstones.get(entry.ident, -1) + 1)

    done = [Repair(entry, lacking(entry)) for entry in found.missing]
    done += [Repair(source, _at_least(source, above(target))) for source, target in found.different]
    done += [
        Repair(entry, Change(entity, entry.key, Operation.DELETE, above(entry), dict(entry.delete_data or {})))
        for entry in found.extra
    ]
    return done


def _at_least(source: Entry, version: int) -> Change:
    """The source's change, at `version` or its own if that is higher."""
    assert source.change is not None
    return dataclasses.replace(source.change, version=max(source.change.version, version))
