"""Deleting what a full snapshot did not see, the same way in both graph sinks: entities the snapshot at
version V left older than V are gone from the source, so each is deleted (with its tombstone) at V, in chunks.

Each sink brings its own read (rows as lists, in the templates' column order) and its own write of a delete
plan; the templates are the same Cypher for Neo4j and FalkorDB.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

from graphsync.change import ApplyResult
from graphsync.connectors import cypher
from graphsync.connectors.rows import NodeRows, Plan, RelationshipRows, entity_id
from graphsync.connectors.slots import chosen, kept, relationship_slots
from graphsync.spec.mapping import Mappings

# Entities older than V are gone from the source; but not those in `$keep`, whose newer state was refused
# (dead-lettered): they are still in the source.
STALE_NODES: LiteralString = """
MATCH (n{label})
WHERE n._graphsync_version < $version AND NOT n.{key} IN $keep
RETURN n.{key} AS key
LIMIT $limit
"""

STALE_RELATIONSHIPS: LiteralString = """
MATCH (a{source_label})-[r{type}]->(b{target_label})
WHERE r._graphsync_version < $version AND NOT r._graphsync_key IN $keep
RETURN a.{source_key} AS source, b.{target_key} AS target, r._graphsync_key AS tombstone
LIMIT $limit
"""

Read = Callable[[LiteralString, dict[str, Any]], Sequence[Sequence[Any]]]
# A delete plan and how many deletes it holds.
Write = Callable[[Plan, int], ApplyResult]


@dataclass(frozen=True)
class Sweep:
    """What a sink's `sweep` was asked: `entities`: only those of these mappings (a TRUNCATE of their tables);
    `keep`: keys by entity type the snapshot saw but could not write (dead-lettered), which stay."""

    below_version: int
    chunk: int = 5000
    entities: Collection[str] | None = None
    keep: Mapping[str, Sequence[Any]] | None = None


def sweep(mappings: Mappings, asked: Sweep, read: Read, write: Write) -> ApplyResult:
    """Delete, chunk by chunk, every entity older than `asked.below_version`: relationships first, so a
    node's delete finds none of the ones the snapshot did not see either."""
    result = ApplyResult()
    version = asked.below_version
    for mapping in chosen(mappings.relationships, asked.entities):
        query = cypher.render(STALE_RELATIONSHIPS, **relationship_slots(mappings, mapping))
        params = {"version": version, "limit": asked.chunk, "keep": kept(mapping, asked.keep)}
        while rows := read(query, params):
            deletes = [{"source": s, "target": t, "tombstone": k, "version": version} for s, t, k in rows]
            result += write(Plan([], [RelationshipRows(mapping, deletes=deletes)]), len(deletes))
    for node in chosen(mappings.nodes, asked.entities):
        slots = {"label": cypher.labels([node.labels[0]]), "key": cypher.quote(node.target_key)}
        query = cypher.render(STALE_NODES, **slots)
        params = {"version": version, "limit": asked.chunk, "keep": kept(node, asked.keep)}
        while rows := read(query, params):
            deletes = [{"key": key, "tombstone": entity_id(node.name, key), "version": version} for (key,) in rows]
            result += write(Plan([NodeRows(node, deletes=deletes)], []), len(deletes))
    return result
