"""What a reconciliation run does: report or repair, over which entities, in what sizes.

The ReconciliationJob custom resource embeds this model unchanged.
"""

from __future__ import annotations

import enum
from typing import Self

from pydantic import Field, StrictInt, StrictStr, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.identifiers import Identifier
from graphsync.spec.mapping import Mappings


class Action(enum.StrEnum):
    REPORT = "report"
    # Differences are written through the pipeline's own sink, version-guarded like any change.
    REPAIR = "repair"


class Scope(SpecModel):
    entities: tuple[Identifier, ...] = Field(default=(), description="entity types (mapping names); empty = all")
    ids: tuple[StrictInt | StrictStr, ...] = Field(
        default=(), description="keys of the node entity types in `entities`; empty = every key"
    )

    @model_validator(mode="after")
    def _ids_name_their_type(self) -> Self:
        if self.ids and not self.entities:
            raise ValueError("ids: name the node entity types the keys belong to in scope.entities")
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
            if self.scope.ids and name not in nodes:
                raise ValueError(f"scope.entities[{index}]: ids select nodes, and {name!r} is a relationship type")

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
