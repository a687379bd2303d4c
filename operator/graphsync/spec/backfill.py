"""Backfills: some entities of a live pipeline written again from its source, declared in the pipeline's spec.

A backfill is a repair-reconciliation of its scope (see `graphsync.reconcile.walk`): both sides are compared
key range by key range and every entity that differs is written from the source as it is at that moment,
version-guarded, so it never undoes a change the live pipeline applies meanwhile nor brings a deleted one back.
Each backfill runs once per name; a new name runs again.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, ValidationError, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.filters import Condition
from graphsync.spec.identifiers import Identifier
from graphsync.spec.reconcile import Action, Key, KeyRange, ReconcileSpec, Scope


class Backfill(SpecModel):
    name: Identifier = Field(
        description="names the backfill: it runs once, a new name runs again (e.g. people_2026_12)"
    )
    entities: tuple[Identifier, ...] = Field(
        default=(), description="entity types (mapping names) to write again; empty = every one"
    )
    ids: tuple[Key, ...] = Field(default=(), description="only these keys of the node entity types in `entities`")
    keys: KeyRange | None = Field(
        default=None, description="only this range of keys of the node entity types in `entities`"
    )
    filter: tuple[Condition, ...] = Field(
        default=(), description="only entities whose source rows meet every condition (as a mapping's filter)"
    )
    batch_size: int = Field(default=2000, ge=1, le=50_000, description="entities per write")

    def job(self) -> ReconcileSpec:
        """The repair that carries the backfill out (raises ValueError on a scope that does not hold together)."""
        scope = Scope(entities=self.entities, ids=self.ids, keys=self.keys, filter=self.filter)
        return ReconcileSpec(action=Action.REPAIR, scope=scope, batch_size=self.batch_size, samples=5)

    @model_validator(mode="after")
    def _scope_holds(self) -> Self:
        try:
            self.job()
        except ValidationError as exc:
            raise ValueError(str(exc.errors()[0]["msg"]).removeprefix("Value error, ")) from None
        return self
