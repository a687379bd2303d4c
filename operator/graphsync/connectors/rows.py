"""From changes to the parameter rows that graph sinks UNWIND (pure, shared by Neo4j and FalkorDB).

A batch is first reduced to the newest change per entity (duplicates and
reordering inside one batch collapse here; across batches the version guard
handles them), then split per mapping and operation.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from graphsync.change import Change, Operation
from graphsync.connectors import casts
from graphsync.connectors.graphs.reading import digest
from graphsync.spec.casts import Cast
from graphsync.spec.filters import admits
from graphsync.spec.mapping import Mappings, NodeMapping, PropertySelection, RelationshipMapping


class MappingError(ValueError):
    """A change that its mapping cannot turn into graph data (a poison record)."""


def entity_id(entity: str, key: Any) -> str:
    """The stable identity of an entity across the whole target: tombstones, ownership.

    The same text `json.dumps([entity, key])` gives; integer keys, the common case,
    skip the encoder (entity names are validated identifiers, which need no escaping).
    """
    if type(key) is int:
        return f'["{entity}",{key}]'
    return json.dumps([entity, key], separators=(",", ":"), sort_keys=True, default=str)


def _identity(change: Change) -> tuple[str, Any]:
    key = change.key
    return change.entity, (tuple(key) if isinstance(key, list) else key, type(key).__name__)


def newest(changes: Iterable[Change]) -> list[Change]:
    """Keep only the highest version per entity, in first-seen order; a delete wins a tie."""
    best: dict[tuple[str, Any], Change] = {}
    for change in changes:
        ident = _identity(change)
        held = best.get(ident)
        if (
            held is None
            or change.version > held.version
            or (change.version == held.version and change.op is Operation.DELETE)
        ):
            best[ident] = change
    return list(best.values())


@dataclass(frozen=True)
class Form:
    """How a target holds property values, where that differs from what the mapping gives: the sink writes
    them so, and a comparison of source and target reads the source so (pure)."""

    # Date-times with a zone become the local date-time in UTC (FalkorDB's `zonedDateTimes: utc`).
    utc_local: bool = False

    def props(self, props: dict[str, Any]) -> dict[str, Any]:
        if not self.utc_local:
            return props
        return {name: _utc_local(value) for name, value in props.items()}


PLAIN = Form()


def _utc_local(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


@dataclass
class NodeRows:
    mapping: NodeMapping
    upserts: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RelationshipRows:
    mapping: RelationshipMapping
    upserts: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Plan:
    nodes: list[NodeRows]
    relationships: list[RelationshipRows]


def plan(changes: Sequence[Change], mappings: Mappings, *, digests: bool = False, form: Form = PLAIN) -> Plan:
    """Turn a batch into rows per mapping; raises MappingError naming the offending change. `digests`: each
    upsert also carries a digest of its contents, on which a tie of versions is decided (see slots.newer)."""
    nodes = {m.name: NodeRows(m) for m in mappings.nodes}
    rels = {m.name: RelationshipRows(m) for m in mappings.relationships}
    for change in newest(changes):
        if change.entity in nodes:
            target = nodes[change.entity]
            taken = filtered(target.mapping, change)
            bucket = target.upserts if taken.op is Operation.UPSERT else target.deletes
            bucket.append(_digested(node_row(target.mapping, taken, form), digests))
        elif change.entity in rels:
            rel_target = rels[change.entity]
            taken = filtered(rel_target.mapping, change)
            bucket = rel_target.upserts if taken.op is Operation.UPSERT else rel_target.deletes
            bucket.append(_digested(relationship_row(rel_target.mapping, taken, form), digests))
        else:
            raise MappingError(f"{change.describe()}: no mapping for entity type {change.entity!r}")
    return Plan(nodes=list(nodes.values()), relationships=list(rels.values()))


def admitted(mapping: NodeMapping | RelationshipMapping, change: Change) -> bool:
    """Whether a change's row passes its mapping's filter (a delete always does); raises MappingError for a
    value the filter cannot compare."""
    if change.op is not Operation.UPSERT or not mapping.filter:
        return True
    try:
        return admits(mapping.filter, change.data)
    except ValueError as exc:
        raise MappingError(f"{change.describe()}: {exc}") from None


def filtered(mapping: NodeMapping | RelationshipMapping, change: Change) -> Change:
    """The change as the target takes it: a row the filter turns away is an entity the target must not hold."""
    return change if admitted(mapping, change) else dataclasses.replace(change, op=Operation.DELETE)


def _digested(row: dict[str, Any], digests: bool) -> dict[str, Any]:
    if digests and "props" in row:
        # Halved: the graph databases store signed 64-bit integers.
        row["digest"] = digest(row["props"]) >> 1
    return row


def node_row(mapping: NodeMapping, change: Change, form: Form = PLAIN) -> dict[str, Any]:
    key = check_value(change, mapping.key, change.key)
    row: dict[str, Any] = {"key": key, "tombstone": entity_id(change.entity, change.key), "version": change.version}
    if change.op is Operation.UPSERT:
        selected = form.props(cast(mapping.properties, mapping.properties.select(change.data), change))
        props = {name: check_value(change, name, value) for name, value in selected.items()}
        props[mapping.target_key] = key
        row["props"] = props
        row["fks"] = {fk.column: change.data.get(fk.column) for fk in mapping.foreign_keys}
    return row


def relationship_row(mapping: RelationshipMapping, change: Change, form: Form = PLAIN) -> dict[str, Any]:
    data = _with_key_columns(mapping, change)
    endpoints = {}
    for side, endpoint in (("source", mapping.source), ("target", mapping.target)):
        value = data.get(endpoint.column)
        if value is None:
            raise MappingError(
                f"{change.describe()}: column {endpoint.column!r} ({side} of {mapping.type}) is missing or null"
            )
        endpoints[side] = check_value(change, endpoint.column, value)
    row: dict[str, Any] = {
        **endpoints,
        "tombstone": entity_id(change.entity, change.key),
        "version": change.version,
    }
    if change.op is Operation.UPSERT:
        skip = {mapping.source.column, mapping.target.column}
        chosen = mapping.properties.select({k: v for k, v in data.items() if k not in skip})
        selected = form.props(cast(mapping.properties, chosen, change))
        row["props"] = {n: check_value(change, n, v) for n, v in selected.items()}
    return row


def cast(properties: PropertySelection, selected: dict[str, Any], change: Change) -> dict[str, Any]:
    """The selected properties with the mapping's casts applied; raises MappingError naming the column."""
    if not properties.cast:
        return selected
    out = dict(selected)
    for column, kind in properties.cast.items():
        name = properties.rename.get(column, column)
        if name not in out:
            continue
        value = out.pop(name)
        try:
            if kind is Cast.FLATTEN:
                members = casts.flattened(name, value)
                taken = sorted(set(members) & set(out))
                if taken:
                    raise ValueError(f"its members would overwrite properties {taken}")
                out.update(members)
            else:
                out[name] = casts.cast(value, kind)
        except ValueError as exc:
            raise MappingError(f"{change.describe()}: column {column!r} ({kind.value}): {exc}") from None
    return out


def _with_key_columns(mapping: RelationshipMapping, change: Change) -> dict[str, Any]:
    """A delete may carry only the key: recover key columns from it."""
    data = dict(change.data)
    key = change.key if isinstance(change.key, list | tuple) else [change.key]
    if len(key) == len(mapping.key):
        for column, value in zip(mapping.key, key, strict=True):
            data.setdefault(column, value)
    return data


# Temporal values are scalars too; each sink decides which of them it can hold exactly.
_SCALARS = (str, int, float, bool, date, time)
_EXACT_SCALARS = frozenset((str, int, float, bool))


def check_value(change: Change, name: str, value: Any) -> Any:
    """Graph properties hold scalars and lists of scalars; anything else is an error, never coerced."""
    if type(value) in _EXACT_SCALARS or value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, list) and all(isinstance(item, _SCALARS) for item in value):
        return value
    if isinstance(value, Mapping):
        raise MappingError(f"{change.describe()}: property {name!r} is a map, which graph properties cannot hold")
    kind = type(value).__name__
    raise MappingError(
        f"{change.describe()}: property {name!r} has a value of type {kind} that graph properties cannot hold"
    )
