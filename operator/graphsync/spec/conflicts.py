"""The conflict policy: who wins when an entity changed on both sides since the last sync.

The ConflictPolicy custom resource embeds this model unchanged.
"""

from __future__ import annotations

import enum
from typing import Self

from pydantic import Field, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.identifiers import Identifier


class Strategy(enum.StrEnum):
    LAST_WRITE_WINS = "lastWriteWins"
    SOURCE_WINS = "sourceWins"
    TARGET_WINS = "targetWins"
    # The entity is held, both versions kept, until someone resolves it; the rest goes on.
    MANUAL = "manual"
    MERGE = "merge"


class FieldRule(enum.StrEnum):
    LAST_WRITE = "lastWrite"
    # Lists: both sides' items, each once (a value that is not a list counts as a list of one).
    UNION = "union"
    MAX = "max"
    # Counters: both sides' changes since the last sync are added to the value both started from.
    SUM = "sum"
    SOURCE = "source"
    TARGET = "target"


class MergeRules(SpecModel):
    """Strategy merge: how each property of an entity changed on both sides is decided."""

    default: FieldRule = Field(
        default=FieldRule.LAST_WRITE,
        description="the rule of properties not named in fields: lastWrite, union, max, sum, source or target",
    )
    fields: dict[Identifier, FieldRule] = Field(default_factory=dict, description="property -> rule")


class EntityPolicy(SpecModel):
    """The policy of one entity type, in place of the default."""

    strategy: Strategy = Field(
        description="lastWriteWins, sourceWins, targetWins, manual (held until resolved) or merge (per property)"
    )
    merge: MergeRules | None = None

    @model_validator(mode="after")
    def _merge_only_for_merge(self) -> Self:
        _check_merge(self.strategy, self.merge)
        return self


class ConflictPolicySpec(SpecModel):
    """Who wins when both sides of a bidirectional pipeline changed the same entity since they last agreed."""

    strategy: Strategy = Field(
        default=Strategy.LAST_WRITE_WINS,
        description="lastWriteWins, sourceWins, targetWins, manual (held until resolved) or merge (per property)",
    )
    merge: MergeRules | None = None
    clock_skew_ms: int = Field(
        default=1000, ge=0, le=3_600_000, description="writes closer than this are concurrent: a tiebreak decides"
    )
    entities: dict[Identifier, EntityPolicy] = Field(default_factory=dict, description="per entity type overrides")

    @model_validator(mode="after")
    def _merge_only_for_merge(self) -> Self:
        _check_merge(self.strategy, self.merge)
        return self

    def for_entity(self, entity: str) -> EntityPolicy:
        return self.entities.get(entity) or EntityPolicy(strategy=self.strategy, merge=self.merge)


def _check_merge(strategy: Strategy, merge: MergeRules | None) -> None:
    if merge is not None and strategy is not Strategy.MERGE:
        raise ValueError(f"merge: rules apply to strategy merge, not {strategy.value}")
