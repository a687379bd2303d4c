"""The sides of a comparison, read bucket by bucket: a graph (source or target) here, PostgreSQL tables in
`compare.postgres`.

A bucket is a range (low, high] of the key of an entity's (start) node, either
end open; the source says where each bucket ends (`boundary`), both sides read
it. A relationship bucket's bounds are (start key, end key) pairs (see
`relationship_bound`), so a super-node's relationships span several buckets.
Memory holds one bucket per side, whatever the data set's size or a node's degree.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from typing import Any, LiteralString, Protocol

from graphsync.compare import queries
from graphsync.compare.entries import (
    Entry,
    key_entry,
    node_entry,
    relationship_entry,
    synced_entry,
    target_node_entry,
    target_relationship_entry,
)
from graphsync.connectors import cypher, slots
from graphsync.connectors.graphs import queries as graph_queries
from graphsync.connectors.graphs import sides
from graphsync.connectors.graphs.reading import (
    GraphReader,
    Versions,
    fetch,
    node_change,
    relationship_bound,
    relationship_change,
    start_keys,
    visible,
)
from graphsync.connectors.rows import PLAIN, Form, entity_id
from graphsync.spec.mapping import Mappings, NodeMapping, RelationshipMapping


class Side(Protocol):
    def count(self, entity: str) -> int: ...
    def boundary(self, entity: str, after: Any, size: int) -> Any | None:
        """The `size`-th (start) key above `after` (a relationship's (start key, end key) pair), or None when
        fewer remain: the last bucket is open."""
        ...

    def bucket(self, entity: str, low: Any, high: Any, ids: Sequence[Any] = ()) -> dict[str, Entry]:
        """Entities whose (start) key is in (low, high] (None: unbounded), or, given `ids`, one of them."""
        ...


class View(enum.Enum):
    """What a graph side reads of each entity; both sides of a comparison read the same view."""

    # Reconciliation and bidirectional passes: properties, labels, where foreign keys point, and every
    # target entity, one written by hand too (a placeholder aside).
    WHOLE = "whole"
    # Differential mode: the properties of what the engine wrote (the target's entities with a version),
    # the source read as a sync reads it; no digests (see `entries.compare`).
    PROPERTIES = "properties"
    # Incremental sync's delete scan: which entities the engine wrote, by key; no user property is read.
    KEYS = "keys"


class GraphSide:
    """A graph read through a `GraphReader`: the source of a graph pipeline, or any pipeline's target."""

    def __init__(
        self,
        reader: GraphReader,
        mappings: Mappings,
        *,
        target: bool,
        versions: Versions,
        skip_bare: bool = False,
        form: Form = PLAIN,
        view: View = View.WHOLE,
    ) -> None:
        """`skip_bare`: a source node with nothing but its key and no version is a placeholder the engine left
        (a bidirectional pipeline writes the source too), not an entity. `form`: a source's entities are
        compared as the target holds them (see rows.Form). `view`: what is read of each entity."""
        self._reader = reader
        self._mappings = mappings
        self._target = target
        self._versions = versions
        self._skip_bare = skip_bare
        self._form = form
        self._view = view

    def count(self, entity: str) -> int:
        mapping = self._mapping(entity)
        if isinstance(mapping, NodeMapping):
            query = cypher.render(queries.COUNT_NODES, **sides.node_slots(mapping, target=self._target))
        else:
            slots_ = sides.relationship_slots(self._mappings, mapping, target=self._target)
            query = cypher.render(queries.COUNT_RELATIONSHIPS, **slots_)
        [[total]] = fetch(self._reader, query)
        return int(total)

    def boundary(self, entity: str, after: Any, size: int) -> Any | None:
        mapping = self._mapping(entity)
        if isinstance(mapping, RelationshipMapping):
            return relationship_bound(self._reader, self._mappings, mapping, after, size)
        keys = start_keys(self._reader, mapping, after, size, target=self._target)
        return keys[-1] if len(keys) == size else None

    def bucket(self, entity: str, low: Any, high: Any, ids: Sequence[Any] = ()) -> dict[str, Entry]:
        mapping = self._mapping(entity)
        if isinstance(mapping, NodeMapping):
            conditions = (queries.IN_IDS,) if ids else sides.key_range(low is not None, high is not None)
            entries = self._nodes(mapping, conditions, {"low": low, "high": high, "ids": list(ids)})
        else:
            conditions, params = ((queries.IN_IDS,), {}) if ids else sides.relationship_range(low, high)
            entries = self._relationships(mapping, conditions, {**params, "ids": list(ids)})
        return {entry.ident: entry for entry in entries}

    def tombstones(self, idents: Sequence[str]) -> dict[str, int]:
        """The versions of the deletes recorded for these entities, which a repair must outrank."""
        return {ident: int(version) for ident, version in fetch(self._reader, queries.TOMBSTONES, {"ids": idents})}

    def _nodes(
        self, mapping: NodeMapping, conditions: tuple[LiteralString, ...], params: Mapping[str, Any]
    ) -> list[Entry]:
        node_slots = sides.node_slots(mapping, target=self._target)
        if self._view is View.WHOLE:
            if self._target:
                return self._target_nodes(mapping, node_slots, conditions, params)
            rows = fetch(self._reader, sides.query(graph_queries.NODES, node_slots, *conditions), params)
            if self._skip_bare:
                rows = [row for row in rows if cypher.VERSION in row[1] or set(row[1]) - {mapping.key}]
            found = (
                node_entry(mapping, node_change(mapping, visible(props), self._versions.or_fallback(props)), self._form)
                for _, props in rows
            )
            return [entry for entry in found if entry is not None]
        keys = self._view is View.KEYS
        template = graph_queries.NODE_KEYS if keys else graph_queries.NODES
        if self._target:
            rows = fetch(self._reader, sides.query(template, node_slots, *conditions, graph_queries.SYNCED), params)
            return [synced_entry(entity_id(mapping.name, key), key, props, {}, keys=keys) for key, props in rows]
        rows = fetch(self._reader, sides.query(template, node_slots, *conditions), params)
        if keys:
            return [key_entry(mapping.name, props.get(mapping.key)) for _, props in rows]
        # Read as a sync reads it (the engine's bookkeeping included), so a repair writes what a snapshot would.
        changes = (node_change(mapping, props, self._versions.or_fallback(props)) for _, props in rows)
        found = (node_entry(mapping, change, self._form, props_only=True) for change in changes)
        return [entry for entry in found if entry is not None]

    def _target_nodes(
        self,
        mapping: NodeMapping,
        node_slots: Mapping[str, str],
        conditions: tuple[LiteralString, ...],
        params: Mapping[str, Any],
    ) -> list[Entry]:
        """Target nodes with their labels and the end keys of the relationships their foreign keys own."""
        ends = ", ".join(
            cypher.render(queries.FK_ENDS, **slots.foreign_key_slots(self._mappings, fk)) for fk in mapping.foreign_keys
        )
        template = cypher.render(queries.TARGET_NODES, label="{label}", key="{key}", where="{where}", ends=ends)
        rows = fetch(self._reader, sides.query(template, node_slots, *conditions), params)
        entries = [target_node_entry(mapping, key, props, labels, fk_ends) for key, props, labels, fk_ends in rows]
        return [entry for entry in entries if entry is not None]

    def _relationships(
        self, mapping: RelationshipMapping, conditions: tuple[LiteralString, ...], params: Mapping[str, Any]
    ) -> list[Entry]:
        rel_slots = sides.relationship_slots(self._mappings, mapping, target=self._target)
        if self._target and self._view is not View.WHOLE:
            return self._synced_relationships(mapping, rel_slots, conditions, params)
        template = graph_queries.RELATIONSHIPS
        # A key scan needs the relationship's properties only when its key includes some.
        if self._view is View.KEYS and set(mapping.key) <= {mapping.source.column, mapping.target.column}:
            template = graph_queries.RELATIONSHIP_KEYS
        rows = fetch(self._reader, sides.query(template, rel_slots, *conditions), params)
        if self._target:
            return [target_relationship_entry(mapping, start, end, props) for start, end, props in rows]
        whole = self._view is View.WHOLE
        changes = [
            relationship_change(
                mapping, start, end, visible(props) if whole else props, self._versions.or_fallback(props)
            )
            for start, end, props in rows
        ]
        if self._view is View.KEYS:
            return [key_entry(change.entity, change.key) for change in changes]
        found = (relationship_entry(mapping, change, self._form, props_only=not whole) for change in changes)
        return [entry for entry in found if entry is not None]

    def _synced_relationships(
        self,
        mapping: RelationshipMapping,
        rel_slots: Mapping[str, str],
        conditions: tuple[LiteralString, ...],
        params: Mapping[str, Any],
    ) -> list[Entry]:
        """The relationships the engine wrote, known by the identity it stored on them; a delete needs the
        endpoints, which the relationship's key may not hold."""
        keys = self._view is View.KEYS
        template = graph_queries.RELATIONSHIP_KEYS if keys else graph_queries.RELATIONSHIPS
        query = sides.query(template, rel_slots, *conditions, graph_queries.REL_SYNCED)
        return [
            synced_entry(
                props[cypher.REL_KEY],
                json.loads(props[cypher.REL_KEY])[1],
                props,
                {mapping.source.column: start, mapping.target.column: end},
                keys=keys,
            )
            for start, end, props in fetch(self._reader, query, params)
        ]

    def _mapping(self, entity: str) -> NodeMapping | RelationshipMapping:
        return self._mappings.entity(entity)
