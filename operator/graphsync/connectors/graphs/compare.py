"""Comparing a source graph with its target, chunk by chunk, as the changes that would make them equal.

Both sides are read in ranges of the (start) node key taken from the source (relationships of a
super-node by their end node key too), so memory holds one chunk, whatever the graph's size. With `content=False` only
keys are compared (what incremental sync needs to see deletes); with `content=True`
properties too (differential sync). A repair's version is one above what the
target holds, so it wins over the drift without outranking the next real change.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphsync.change import Change, Operation
from graphsync.connectors import cypher
from graphsync.connectors.graphs import queries, sides
from graphsync.connectors.graphs.reading import (
    GraphReader,
    Versions,
    fetch,
    node_change,
    plain,
    relationship_bound,
    relationship_change,
    start_keys,
    visible,
)
from graphsync.connectors.rows import PLAIN, Form, MappingError, admitted, entity_id, node_row, relationship_row
from graphsync.spec.mapping import Mappings, NodeMapping, RelationshipMapping

CHUNK = 2000


def differences(
    source: GraphReader,
    target: GraphReader,
    mappings: Mappings,
    *,
    versions: Versions,
    content: bool,
    chunk: int = CHUNK,
    form: Form = PLAIN,
) -> Iterator[list[Change]]:
    """Yield, chunk by chunk, the changes that bring the target in line with the source (`form`: how the
    target holds values, so a value it holds otherwise is no difference)."""
    for node in mappings.nodes:
        for low, high in _ranges(source, node, chunk):
            found = _node_chunk(source, target, node, low, high, content=content, versions=versions)
            yield _changes(node, *found, content=content, form=form)
    for rel in mappings.relationships:
        for low, high in _relationship_ranges(source, mappings, rel, chunk):
            found = _relationship_chunk(source, target, mappings, rel, (low, high), content=content, versions=versions)
            yield _changes(rel, *found, content=content, form=form)


def _ranges(source: GraphReader, mapping: NodeMapping, chunk: int) -> Iterator[tuple[Any, Any]]:
    """(low, high] key ranges covering every key, the last one open-ended so target-only keys are seen."""
    low = None
    while True:
        keys = start_keys(source, mapping, low, chunk)
        if len(keys) < chunk:
            yield low, None
            return
        yield low, keys[-1]
        low = keys[-1]


def _relationship_ranges(
    source: GraphReader, mappings: Mappings, mapping: RelationshipMapping, chunk: int
) -> Iterator[tuple[sides.Bound | None, sides.Bound | None]]:
    """Ranges of at most `chunk` relationships, covering them all (see `relationship_bound`)."""
    low = None
    while True:
        high = relationship_bound(source, mappings, mapping, low, chunk)
        yield low, high
        if high is None:
            return
        low = high


def _node_chunk(
    source: GraphReader,
    target: GraphReader,
    mapping: NodeMapping,
    low: Any,
    high: Any,
    *,
    content: bool,
    versions: Versions,
) -> tuple[dict[str, Change], list[_Held]]:
    bounds = sides.key_range(low is not None, high is not None)
    params = {"low": low, "high": high}
    template = queries.NODES if content else queries.NODE_KEYS
    wanted = {}
    for _, props in fetch(source, sides.query(template, sides.node_slots(mapping, target=False), *bounds), params):
        change = node_change(mapping, props, versions.or_fallback(props))
        wanted[entity_id(mapping.name, change.key)] = change
    held = [
        _Held(entity_id(mapping.name, key), key, props, {})
        for key, props in fetch(
            target, sides.query(template, sides.node_slots(mapping, target=True), *bounds, queries.SYNCED), params
        )
    ]
    return wanted, held


def _relationship_chunk(
    source: GraphReader,
    target: GraphReader,
    mappings: Mappings,
    mapping: RelationshipMapping,
    bounds: tuple[sides.Bound | None, sides.Bound | None],
    *,
    content: bool,
    versions: Versions,
) -> tuple[dict[str, Change], list[_Held]]:
    conditions, params = sides.relationship_range(*bounds)
    # A key scan needs the relationship's properties only when its key includes some.
    by_endpoints = set(mapping.key) <= {mapping.source.column, mapping.target.column}
    keys_only = queries.RELATIONSHIP_KEYS if by_endpoints else queries.RELATIONSHIPS
    wanted = {}
    slots = sides.relationship_slots(mappings, mapping, target=False)
    for start, end, props in fetch(
        source, sides.query(queries.RELATIONSHIPS if content else keys_only, slots, *conditions), params
    ):
        change = relationship_change(mapping, start, end, props, versions.or_fallback(props))
        wanted[entity_id(mapping.name, change.key)] = change
    slots = sides.relationship_slots(mappings, mapping, target=True)
    template = queries.RELATIONSHIPS if content else queries.RELATIONSHIP_KEYS
    held = [
        # A delete needs the endpoints, which the relationship's key may not hold.
        _Held(
            props[cypher.REL_KEY],
            json.loads(props[cypher.REL_KEY])[1],
            props,
            {mapping.source.column: start, mapping.target.column: end},
        )
        for start, end, props in fetch(target, sides.query(template, slots, *conditions, queries.REL_SYNCED), params)
    ]
    return wanted, held


@dataclass(frozen=True)
class _Held:
    """An entity the target holds: its identity, key, stored properties, and what a delete of it must carry."""

    ident: str
    key: Any
    props: Mapping[str, Any]
    delete_data: Mapping[str, Any]


def _changes(
    mapping: NodeMapping | RelationshipMapping,
    wanted: dict[str, Change],
    held: list[_Held],
    *,
    content: bool,
    form: Form,
) -> list[Change]:
    if content:
        # What the mapping's filter turns away is no entity of the target's (one it holds is deleted).
        wanted = {ident: change for ident, change in wanted.items() if _admitted(mapping, change)}
    changes = []
    for entity in held:
        stored = int(entity.props[cypher.VERSION])
        change = wanted.pop(entity.ident, None)
        if change is None:
            changes.append(Change(mapping.name, entity.key, Operation.DELETE, stored + 1, entity.delete_data))
        elif content and _differs(mapping, change, entity.props, form):
            changes.append(dataclasses.replace(change, version=max(change.version, stored + 1)))
    if content:
        changes += wanted.values()
    return changes


def _admitted(mapping: NodeMapping | RelationshipMapping, change: Change) -> bool:
    """A value the filter cannot compare is left for the sink, which dead-letters it with the reason."""
    try:
        return admitted(mapping, change)
    except MappingError:
        return True


def _differs(mapping: NodeMapping | RelationshipMapping, change: Change, held: Mapping[str, Any], form: Form) -> bool:
    """Whether the target's user-visible properties differ from the mapped source ones.

    A source entity the mapping cannot turn into properties counts as different:
    the repair then fails in the sink and lands in the dead-letter store with the reason.
    """
    try:
        if isinstance(mapping, NodeMapping):
            row = node_row(mapping, change, form)
        else:
            row = relationship_row(mapping, change, form)
    except MappingError:
        return True
    return plain(row["props"]) != plain(visible(held))
