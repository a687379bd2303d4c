"""What a bidirectional pass writes, as changes for either side: pure functions over reconciliation entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphsync.change import Change, Operation
from graphsync.compare.entries import FROM, LABELS, TO, Entry, link
from graphsync.connectors.graphs.reading import digest
from graphsync.spec.mapping import Mappings, NodeMapping, RelationshipMapping


def reversed_mappings(mappings: Mappings) -> Mappings:
    """The mappings as the source side is written: its own labels and types, the same names for the rest."""
    nodes = [{"name": n.name, "labels": [n.read_label], "key": n.key} for n in mappings.nodes]
    relationships = [
        {
            "name": r.name,
            "type": r.read_type,
            "from": {"column": r.source.column, "references": r.source.references},
            "to": {"column": r.target.column, "references": r.target.references},
            "key": list(r.key),
        }
        for r in mappings.relationships
    ]
    return Mappings.model_validate({"nodes": nodes, "relationships": relationships})


def properties(entry: Entry) -> dict[str, Any]:
    """An entity's properties: its content without the parts that are not properties (labels, ends)."""
    return {name: value for name, value in entry.content.items() if not name.startswith((":", "->"))}


def shape(entry: Entry) -> dict[str, Any]:
    """What an entity is besides its properties (its ends), kept with a held conflict to write it back."""
    return {name: value for name, value in entry.content.items() if name in (FROM, TO)}


def entry_of(
    mapping: NodeMapping | RelationshipMapping,
    ident: str,
    key: Any,
    data: Mapping[str, Any] | None,
    ends: Mapping[str, Any],
) -> Entry | None:
    """A resolved version as an entry: its properties, and the labels or ends of the entity it resolves."""
    if data is None:
        return None
    content: dict[str, Any] = dict(data)
    if isinstance(mapping, NodeMapping):
        content[LABELS] = sorted(mapping.labels)
        for fk in mapping.foreign_keys:
            if data.get(fk.column) is not None:
                content[link(fk.column)] = [data[fk.column]]
    else:
        content[FROM], content[TO] = ends[FROM], ends[TO]
    return Entry(ident, key, digest(content), content)


def upsert(mapping: NodeMapping | RelationshipMapping, entry: Entry, version: int) -> Change:
    data = properties(entry)
    if isinstance(mapping, RelationshipMapping):
        data[mapping.source.column], data[mapping.target.column] = entry.content[FROM], entry.content[TO]
    return Change(mapping.name, entry.key, Operation.UPSERT, version, data)


def delete(mapping: NodeMapping | RelationshipMapping, entry: Entry, version: int) -> Change:
    data = {}
    if isinstance(mapping, RelationshipMapping):
        data = {mapping.source.column: entry.content[FROM], mapping.target.column: entry.content[TO]}
    return Change(mapping.name, entry.key, Operation.DELETE, version, data)
