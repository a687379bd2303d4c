"""What a reconciliation run does: report or repair, over which entities, in what sizes.

The ReconciliationJob custom resource embeds this model unchanged.
"""

from __future__ import annotations

import enum
from typing import Any, Self

from pydantic import Field, StrictInt, StrictStr, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.filters import Condition
from graphsync.spec.identifiers import Identifier
from graphsync.spec.mapping import Mappings


class Action(enum.StrEnum):
    REPORT = "report"
    # Differences are written through the pipeline's own sink, version-guarded like any change.
    REPAIR = "repair"


Key = StrictInt | StrictStr


class KeyRange(SpecModel):
    """Keys in (after, through], in the order the reconciliation walks them (numbers by value, text by code
    point); an end left out is open."""

    after: Key | None = Field(default=None, description="keys above this one (not itself); unset = from the first")
    through: Key | None = Field(default=None, description="keys up to and including this one; unset = to the last")

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.after is not None and self.through is not None:
            if _not_above(self.after, self.through) is None:
                raise ValueError("after and through: give both as numbers or both as text, as the key is")
            if not _not_above(self.after, self.through) or self.after == self.through:
                raise ValueError(f"after: {self.after!r} is not below through ({self.through!r}); the range is empty")
        return self

    def within(self, key: Any) -> bool:
        """Whether a walk boundary `key` is not past `through`; raises ValueError on a key of another type."""
        if self.through is None:
            return True
        within = _not_above(key, self.through)
        if within is None:
            kind = "a number" if isinstance(self.through, int) else "text"
            raise ValueError(f"keys.through: {self.through!r} is {kind}, and the entity's keys are not ({key!r})")
        return within


def _not_above(low: Any, high: Key) -> bool | None:
    """`low <= high` for two keys of one kind (numbers, or text by code point); None for keys of two kinds."""
    if isinstance(low, int) and not isinstance(low, bool) and isinstance(high, int):
        return low <= high
    if isinstance(low, str) and isinstance(high, str):
        return low <= high
    return None


class Scope(SpecModel):
    entities: tuple[Identifier, ...] = Field(default=(), description="entity types (mapping names); empty = all")
    ids: tuple[Key, ...] = Field(
        default=(), description="keys of the node entity types in `entities`; empty = every key"
    )
    keys: KeyRange | None = Field(
        default=None, description="a range of keys of the node entity types in `entities`; unset = every key"
    )
    filter: tuple[Condition, ...] = Field(
        default=(), description="only entities whose source rows meet every condition (as a mapping's filter)"
    )

    @model_validator(mode="after")
    def _ids_name_their_type(self) -> Self:
        if self.ids and not self.entities:
            raise ValueError("ids: name the node entity types the keys belong to in scope.entities")
        if self.keys is not None and not self.entities:
            raise ValueError("keys: name the node entity types the key range belongs to in scope.entities")
        if self.keys is not None and self.ids:
            raise ValueError("keys: give ids or a key range, not both")
        return self


class ReconcileSpec(SpecModel):
    action: Action = Field(
        default=Action.REPORT, description="report: find and count differences; repair: also write them right"
    )
    scope: Scope = Field(default_factory=Scope, description="which entities to compare; all when unset")
    bucket_count: int = Field(
        default=1024,
        ge=1,
        le=1_000_000,
        description="key-range buckets per entity type, each hashed on both sides (1,000 to 20,000 keys each)",
    )
    batch_size: int = Field(default=2000, ge=1, le=50_000, description="entities per repair write")
    samples: int = Field(default=10, ge=0, le=1000, description="examples kept per entity type and kind of difference")

    def check_against(self, mappings: Mappings) -> None:
        """Raises ValueError naming the scope item that the pipeline's mappings do not have."""
        nodes = {node.name for node in mappings.nodes}
        known = mappings.entity_names()
        for index, name in enumerate(self.scope.entities):
            if name not in known:
                raise ValueError(f"scope.entities[{index}]: {name!r} is no entity type of the pipeline ({known})")
            chosen = "ids" if self.scope.ids else "keys" if self.scope.keys is not None else None
            if chosen and name not in nodes:
                raise ValueError(f"scope.entities[{index}]: {chosen} select nodes, and {name!r} is a relationship type")

    def chosen(self, mappings: Mappings) -> list[str]:
        """The entity types in scope, in the pipeline's order (nodes first)."""
        wanted = set(self.scope.entities)
        return [name for name in mappings.entity_names() if not wanted or name in wanted]


# Buckets stay this small whatever bucketCount says, so memory never grows with the data set;
# and this big, since each bucket costs a round trip per side.
MAX_BUCKET = 20_000
MIN_BUCKET = 1_000


def bucket_size(entities: int, bucket_count: int) -> int:
    """Keys per bucket: the data split into `bucket_count` ranges, each of MIN_BUCKET to MAX_BUCKET keys."""
    return max(MIN_BUCKET, min(MAX_BUCKET, -(-entities // bucket_count)))
