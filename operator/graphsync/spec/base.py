"""The base of every spec model: camelCase on the wire (Kubernetes style), strict otherwise."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    """Unknown fields are errors (a typo must not be silently ignored); models are immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
    )
