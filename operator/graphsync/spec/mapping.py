"""Declarative mapping: which source entities become which nodes and relationships.

A node mapping turns a table (or entity type) into nodes with labels, one key
property and selected properties; its foreign keys become relationships. A
relationship mapping turns a join table into relationships with properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.casts import Cast
from graphsync.spec.filters import Condition
from graphsync.spec.identifiers import Identifier, QualifiedName


class PropertySelection(SpecModel):
    """Which columns become properties, and under which names.

    `include` empty means every column; `exclude` removes columns; `rename` maps a
    column to a property name.
    """

    include: tuple[Identifier, ...] = Field(default=(), description="only these columns (all when empty)")
    exclude: tuple[Identifier, ...] = Field(default=(), description="never these columns")
    rename: dict[Identifier, Identifier] = Field(
        default_factory=dict, description="column -> property name, for properties named otherwise"
    )
    cast: dict[Identifier, Cast] = Field(
        default_factory=dict,
        description="column -> what its values become: date, localDateTime, dateTime, localTime, integer, float, "
        "string, boolean, json (its JSON text) or flatten (a JSON object's members as properties)",
    )

    @model_validator(mode="after")
    def _consistent(self) -> PropertySelection:
        both = sorted(set(self.include) & set(self.exclude))
        if both:
            raise ValueError(f"columns {both} are both included and excluded")
        for column in self.cast:
            if column in self.exclude or (self.include and column not in self.include):
                raise ValueError(f"cast: column {column!r} is not a property (see include and exclude)")
        targets = list(self.rename.values())
        clashes = sorted({name for name in targets if targets.count(name) > 1})
        if clashes:
            raise ValueError(f"rename maps several columns to the same property {clashes}")
        return self

    def select(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The properties of a row: included, not excluded, renamed; a null column is an absent property."""
        include, exclude, rename = self.include, self.exclude, self.rename
        return {
            rename.get(c, c): v
            for c, v in row.items()
            if v is not None and (not include or c in include) and c not in exclude
        }


class ForeignKey(SpecModel):
    """A column of this entity that points at another entity's key: one relationship."""

    column: Identifier = Field(description="the column holding the other entity's key")
    references: Identifier = Field(description="the name of the node mapping the column points at")
    type: Identifier = Field(description="the relationship type, e.g. PLACED_BY")
    direction: Literal["outgoing", "incoming"] = Field(
        default="outgoing", description="outgoing: from this node to the one referenced; incoming: the other way"
    )


class NodeMapping(SpecModel):
    name: Identifier = Field(description="the entity type, as events and the outbox name it")
    table: QualifiedName | None = Field(default=None, description="the source table; defaults to the name")
    source_label: Identifier | None = Field(
        default=None, description="graph sources: the label to read; defaults to the first of labels"
    )
    labels: tuple[Identifier, ...] = Field(
        min_length=1, description="the node's labels; the first is the entity's own, unique among the mappings"
    )
    key: Identifier = Field(description="the key column; it becomes a uniquely constrained property")
    key_property: Identifier | None = Field(default=None, description="the key's property name; defaults to the key")
    properties: PropertySelection = Field(default_factory=PropertySelection)
    foreign_keys: tuple[ForeignKey, ...] = Field(
        default=(), description="columns pointing at other entities, each a relationship"
    )
    filter: tuple[Condition, ...] = Field(
        default=(), description="only rows meeting every condition become nodes (none: every row)"
    )

    @property
    def source_table(self) -> str:
        return self.table or self.name

    @property
    def read_label(self) -> str:
        return self.source_label or self.labels[0]

    @property
    def target_key(self) -> str:
        return self.key_property or self.properties.rename.get(self.key, self.key)

    @model_validator(mode="after")
    def _key_is_kept(self) -> NodeMapping:
        if self.key in self.properties.exclude:
            raise ValueError(f"the key column {self.key!r} cannot be excluded")
        if self.key in self.properties.cast:
            raise ValueError(f"properties.cast: the key column {self.key!r} keeps its values (they identify the node)")
        fk_columns = [fk.column for fk in self.foreign_keys]
        if len(set(fk_columns)) != len(fk_columns):
            raise ValueError("a column can carry only one foreign key")
        return self


class Endpoint(SpecModel):
    """One end of a relationship: a column of the join table and the node mapping it points at."""

    column: Identifier = Field(description="the column holding that node's key")
    references: Identifier = Field(description="the name of the node mapping the column points at")


class RelationshipMapping(SpecModel):
    """A join table: each row is one relationship, keyed by its key columns."""

    name: Identifier = Field(description="the entity type, as events and the outbox name it")
    table: QualifiedName | None = Field(default=None, description="the join table; defaults to the name")
    type: Identifier = Field(description="the relationship type, e.g. LIKES")
    source_type: Identifier | None = Field(
        default=None, description="graph sources: the type to read; defaults to type"
    )
    source: Endpoint = Field(alias="from", description="where the relationship starts")
    target: Endpoint = Field(alias="to", description="where the relationship ends")
    key: tuple[Identifier, ...] = Field(min_length=1, description="the columns that identify a row")
    properties: PropertySelection = Field(default_factory=PropertySelection)
    filter: tuple[Condition, ...] = Field(
        default=(), description="only rows meeting every condition become relationships (none: every row)"
    )

    @model_validator(mode="after")
    def _ends_stay(self) -> RelationshipMapping:
        for column in (self.source.column, self.target.column):
            if column in self.properties.cast:
                raise ValueError(f"properties.cast: {column!r} is an end of the relationship, not a property")
        return self

    @property
    def source_table(self) -> str:
        return self.table or self.name

    @property
    def read_type(self) -> str:
        return self.source_type or self.type


class Mappings(SpecModel):
    nodes: tuple[NodeMapping, ...] = Field(min_length=1, description="entities that become nodes")
    relationships: tuple[RelationshipMapping, ...] = Field(
        default=(), description="join tables whose rows become relationships"
    )

    @model_validator(mode="after")
    def _references_resolve(self) -> Mappings:
        names = [m.name for m in self.nodes] + [r.name for r in self.relationships]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"entity names must be unique; repeated: {duplicates}")
        known = {m.name for m in self.nodes}
        for node in self.nodes:
            for i, fk in enumerate(node.foreign_keys):
                if fk.references not in known:
                    raise ValueError(
                        f"nodes[{node.name}].foreignKeys[{i}].references: unknown node mapping {fk.references!r}"
                    )
        for rel in self.relationships:
            for side, endpoint in (("from", rel.source), ("to", rel.target)):
                if endpoint.references not in known:
                    raise ValueError(
                        f"relationships[{rel.name}].{side}.references: unknown node mapping {endpoint.references!r}"
                    )
        return self

    @model_validator(mode="after")
    def _relationships_identifiable(self) -> Mappings:
        """Sinks find the relationship a foreign key owns by its label, type, direction and target label
        alone (no owner property on every relationship), so no two sources may write the same shape."""
        owners: dict[str, str] = {}
        for node in self.nodes:
            label = node.labels[0]
            if label in owners:
                raise ValueError(
                    f"nodes[{node.name}].labels[0]: {label!r} is already the first label of {owners[label]}"
                )
            owners[label] = f"nodes[{node.name}]"
        shapes: dict[tuple[str, str, str], str] = {}
        for node in self.nodes:
            for i, fk in enumerate(node.foreign_keys):
                ends = (node.labels[0], self.node(fk.references).labels[0])
                start, end = ends if fk.direction == "outgoing" else ends[::-1]
                _claim(shapes, (start, fk.type, end), f"nodes[{node.name}].foreignKeys[{i}]")
        for rel in self.relationships:
            shape = (self.node(rel.source.references).labels[0], rel.type, self.node(rel.target.references).labels[0])
            _claim(shapes, shape, f"relationships[{rel.name}]")
        return self

    def node(self, name: str) -> NodeMapping:
        for mapping in self.nodes:
            if mapping.name == name:
                return mapping
        raise KeyError(name)

    def entity(self, name: str) -> NodeMapping | RelationshipMapping:
        mappings: list[NodeMapping | RelationshipMapping] = [*self.nodes, *self.relationships]
        for mapping in mappings:
            if mapping.name == name:
                return mapping
        raise KeyError(name)

    def entity_names(self) -> list[str]:
        return [m.name for m in self.nodes] + [r.name for r in self.relationships]


def _claim(shapes: dict[tuple[str, str, str], str], shape: tuple[str, str, str], where: str) -> None:
    start, rel_type, end = shape
    if shape in shapes:
        raise ValueError(
            f"{where}: (:{start})-[:{rel_type}]->(:{end}) is also written by {shapes[shape]}; give one another type"
        )
    shapes[shape] = where
