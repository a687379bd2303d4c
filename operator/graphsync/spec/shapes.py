"""What a pipeline does when a mapped table's columns change (added, dropped, renamed, retyped): see
`graphsync.shapes`."""

from __future__ import annotations

import enum

from pydantic import Field

from graphsync.spec.base import SpecModel


class SchemaPolicy(enum.StrEnum):
    # The entity type is written again from its source (a backfill), so an added column reaches every entity
    # and a dropped one leaves none; the pipeline streams on meanwhile.
    FOLLOW = "follow"
    # The pipeline stops reading (Degraded, SchemaChanged) until a person accepts the new shape.
    STOP = "stop"


class SchemaChanges(SpecModel):
    policy: SchemaPolicy = Field(
        default=SchemaPolicy.FOLLOW,
        description="follow (write the entity type again) or stop (until `schema --accept`); a change that "
        "removes a column the mapping names always stops",
    )
    check_interval_seconds: float = Field(
        default=60.0, ge=1, le=86_400, description="how often a running worker compares the mapped tables' columns"
    )
