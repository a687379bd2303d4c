"""Entities as a comparison sees them: an identity, a content digest, and what a repair needs (pure).

Both sides describe an entity in the form the sink writes: a source row goes
through the same mapping functions as a sync (`rows.node_row`), a target entity
is read back without the engine's bookkeeping. Two entities are equal when their
digests are, so a bucket is compared by one number per side.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphsync.change import Change
from graphsync.connectors import cypher
from graphsync.connectors.graphs.reading import canonical, digest, plain, visible
from graphsync.connectors.rows import PLAIN, Form, MappingError, admitted, entity_id, node_row, relationship_row
from graphsync.spec.mapping import NodeMapping, RelationshipMapping

_MASK = (1 << 64) - 1


@dataclass(frozen=True)
class Entry:
    """One entity on one side. `content` is what was hashed, kept for samples; `change` (source side)
    is what a repair writes; `version` and `delete_data` (target side) what a repair must outrank or carry."""

    ident: str
    key: Any
    digest: int
    content: Mapping[str, Any]
    change: Change | None = None
    version: int = -1
    delete_data: Mapping[str, Any] | None = None


def bucket_hash(entries: Iterable[Entry]) -> tuple[int, int]:
    """(count, hash) of a bucket, whatever order its entries came in."""
    count, total = 0, 0
    for entry in entries:
        count += 1
        mixed = hashlib.blake2b(f"{entry.ident}\0{entry.digest}".encode(), digest_size=8).digest()
        total = (total + int.from_bytes(mixed, "big")) & _MASK
    return count, total


# Parts of an entity besides its properties; no property can have these names (see `identifiers`).
LABELS = ":labels"
FROM, TO = ":from", ":to"
UNMAPPABLE = ":unmappable"


def link(column: str) -> str:
    """The part of a node's content that holds where a foreign key points."""
    return f"->{column}"


def node_entry(mapping: NodeMapping, change: Change, form: Form = PLAIN, *, props_only: bool = False) -> Entry | None:
    """A source entity as the sink would write it: properties, labels, the keys its foreign keys point at;
    None for a row the mapping's filter turns away (no entity of the target's). `props_only`: its properties
    alone, as differential mode compares them (see `_admitted`), and no digest (see `compare`)."""
    try:
        if not _admitted(mapping, change, lenient=props_only):
            return None
        row = node_row(mapping, change, form)
    except MappingError as exc:
        return _unmappable(change, exc, digested=not props_only)
    if props_only:
        return _source_entry(change, row["props"], digested=False)
    content = {**row["props"], LABELS: sorted(mapping.labels)}
    content.update({link(column): [end] for column, end in row["fks"].items() if end is not None})
    return _source_entry(change, content)


def relationship_entry(
    mapping: RelationshipMapping, change: Change, form: Form = PLAIN, *, props_only: bool = False
) -> Entry | None:
    try:
        if not _admitted(mapping, change, lenient=props_only):
            return None
        row = relationship_row(mapping, change, form)
    except MappingError as exc:
        return _unmappable(change, exc, digested=not props_only)
    if props_only:
        return _source_entry(change, row["props"], digested=False)
    return _source_entry(change, {**row["props"], FROM: row["source"], TO: row["target"]})


def _admitted(mapping: NodeMapping | RelationshipMapping, change: Change, *, lenient: bool) -> bool:
    """Whether the mapping's filter takes the row; raises MappingError for a value it cannot compare, unless
    `lenient`: differential mode then compares the row's properties and leaves it to the sink, which
    dead-letters it with the reason."""
    try:
        return admitted(mapping, change)
    except MappingError:
        if lenient:
            return True
        raise


def key_entry(entity: str, key: Any) -> Entry:
    """A source entity as a key scan sees it: its identity only (every one has the same digest, and nothing
    of it is written: a key scan repairs by deletes of what the target holds)."""
    return Entry(entity_id(entity, key), key, 0, {})


def _source_entry(change: Change, content: dict[str, Any], *, digested: bool = True) -> Entry:
    return Entry(entity_id(change.entity, change.key), change.key, digest(content) if digested else 0, content, change)


def _unmappable(change: Change, error: MappingError, *, digested: bool = True) -> Entry:
    """The reason as content: it differs from anything, and writing the entity fails with that reason."""
    return _source_entry(change, {UNMAPPABLE: str(error)}, digested=digested)


def target_node_entry(
    mapping: NodeMapping, key: Any, props: Mapping[str, Any], labels: list[str], ends: list[list[Any]]
) -> Entry | None:
    """A node the target holds; None for a placeholder (only its key, never synced), which stands in
    for a node that relationships point at and is not an entity of its own."""
    shown = visible(props)
    version = props.get(cypher.VERSION)
    if version is None and set(shown) <= {mapping.target_key}:
        return None
    content: dict[str, Any] = {**shown, LABELS: sorted(label for label in labels if label in mapping.labels)}
    for fk, targets in zip(mapping.foreign_keys, ends, strict=True):
        if targets:
            content[link(fk.column)] = sorted(targets, key=repr)
    ident = entity_id(mapping.name, key)
    return Entry(ident, key, digest(content), content, version=_version(version))


def target_relationship_entry(mapping: RelationshipMapping, start: Any, end: Any, props: Mapping[str, Any]) -> Entry:
    # What the sink wrote carries its identity (and key); one made by hand is known by its key columns.
    ident = props.get(cypher.REL_KEY)
    if ident is not None:
        key = json.loads(ident)[1]
    else:
        data = {**visible(props), mapping.source.column: start, mapping.target.column: end}
        values = [data.get(column) for column in mapping.key]
        key = values[0] if len(values) == 1 else values
        ident = entity_id(mapping.name, key)
    content = {**visible(props), FROM: start, TO: end}
    ends = {mapping.source.column: start, mapping.target.column: end}
    return Entry(ident, key, digest(content), content, version=_version(props.get(cypher.VERSION)), delete_data=ends)


def synced_entry(
    ident: str, key: Any, props: Mapping[str, Any], delete_data: Mapping[str, Any], *, keys: bool
) -> Entry:
    """An entity the engine wrote to the target, as differential mode and key scans compare it: its user
    properties (`keys`: its identity only) and no digest (see `compare`), the version it holds, and what a
    delete of it must carry."""
    content = {} if keys else visible(props)
    return Entry(ident, key, 0, content, version=int(props[cypher.VERSION]), delete_data=delete_data)


def _version(value: Any) -> int:
    return -1 if value is None else int(value)


@dataclass(frozen=True)
class Differences:
    missing: list[Entry]  # in the source only (source entries)
    extra: list[Entry]  # in the target only (target entries)
    different: list[tuple[Entry, Entry]]  # (source, target)


def compare(source: Mapping[str, Entry], target: Mapping[str, Entry], *, by_content: bool = False) -> Differences:
    """What differs, by identity and digest; `by_content`: by the entries' contents in canonical form, for
    entries read without a digest (differential mode needs none: comparing the pairs costs less than encoding
    and hashing every entity)."""
    missing: list[Entry] = []
    different: list[tuple[Entry, Entry]] = []
    for ident, entry in source.items():
        held = target.get(ident)
        if held is None:
            missing.append(entry)
        elif (plain(entry.content) != plain(held.content)) if by_content else (held.digest != entry.digest):
            different.append((entry, held))
    extra = [entry for ident, entry in target.items() if ident not in source]
    return Differences(missing, extra, different)


def changed_fields(source: Mapping[str, Any], target: Mapping[str, Any]) -> list[str]:
    """The properties (and other parts) whose values differ, for a sample a user can read."""
    names = sorted(set(source) | set(target))
    return [name for name in names if canonical(source.get(name)) != canonical(target.get(name))]
