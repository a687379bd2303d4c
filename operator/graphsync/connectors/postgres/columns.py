"""Which columns of a mapped table leave PostgreSQL: only what the mapping uses.

Capture triggers, snapshot and watermark reads and the relay all cut rows down to
these columns, so an excluded column (a password hash, say) never reaches the
outbox payload, Redis, the dead-letter store or the target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from graphsync.spec import identifiers
from graphsync.spec.mapping import NodeMapping, PropertySelection, RelationshipMapping


@dataclass(frozen=True)
class Columns:
    """The columns kept: exactly `keep`, or (keep None: the mapping takes every column) all but `drop`."""

    keep: tuple[str, ...] | None = None
    drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for column in (*(self.keep or ()), *self.drop):
            identifiers.check(column)

    def listing(self) -> tuple[Literal["keep", "drop"], tuple[str, ...]]:
        """How the database applies it (schema.py `project`): keep the listed columns, or drop them."""
        return ("keep", self.keep) if self.keep is not None else ("drop", self.drop)

    def apply(self, row: Mapping[str, Any]) -> dict[str, Any]:
        if self.keep is not None:
            return {c: v for c, v in row.items() if c in self.keep}
        return {c: v for c, v in row.items() if c not in self.drop}


# A table read whole: what a mapping with no include and no exclude takes.
EVERY_COLUMN = Columns()


def selected(properties: PropertySelection, needed: Iterable[str]) -> Columns:
    """The properties a selection keeps plus the `needed` columns (keys, foreign keys, ends, filter, watermark),
    which travel even when excluded as properties: the sink needs them to place the entity."""
    required = tuple(dict.fromkeys(needed))
    if properties.include:
        return Columns(keep=tuple(dict.fromkeys((*required, *properties.include))))
    return Columns(drop=tuple(c for c in properties.exclude if c not in required))


def node_columns(mapping: NodeMapping, watermark: str | None = None) -> Columns:
    needed = [
        mapping.key,
        *(fk.column for fk in mapping.foreign_keys),
        *(condition.column for condition in mapping.filter),
        *([watermark] if watermark else []),
    ]
    return selected(mapping.properties, needed)


def relationship_columns(mapping: RelationshipMapping, watermark: str | None = None) -> Columns:
    needed = [
        *mapping.key,
        mapping.source.column,
        mapping.target.column,
        *(condition.column for condition in mapping.filter),
        *([watermark] if watermark else []),
    ]
    return selected(mapping.properties, needed)
