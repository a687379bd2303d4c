"""Identifier slots the graph sinks' query templates share (see `cypher.render`), from the mappings."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, LiteralString, TypeVar

from graphsync.connectors import cypher
from graphsync.connectors.rows import entity_id
from graphsync.spec.mapping import ForeignKey, Mappings, NodeMapping, RelationshipMapping

M = TypeVar("M", NodeMapping, RelationshipMapping)


def keyed_by_ends(mapping: RelationshipMapping) -> bool:
    """Whether a relationship is identified by its two ends alone (then one written by hand is found too)."""
    return set(mapping.key) == {mapping.source.column, mapping.target.column}


def relationship_slots(mappings: Mappings, mapping: RelationshipMapping) -> dict[str, str]:
    source = mappings.node(mapping.source.references)
    target = mappings.node(mapping.target.references)
    return {
        "type": cypher.labels([mapping.type]),
        "source_label": cypher.labels([source.labels[0]]),
        "source_key": cypher.quote(source.target_key),
        "target_label": cypher.labels([target.labels[0]]),
        "target_key": cypher.quote(target.target_key),
    }


def foreign_key_slots(mappings: Mappings, fk: ForeignKey) -> dict[str, str]:
    """Slots for a foreign key of node `n`: `owned` matches the relationship it holds as `old` to `m`,
    `arrow` creates it to `m`. Type, direction and target label identify it (`Mappings` keeps that
    unambiguous), so no owner property is written on every relationship."""
    target = mappings.node(fk.references)
    rel_type, target_label = cypher.labels([fk.type]), cypher.labels([target.labels[0]])
    outgoing = fk.direction == "outgoing"
    return {
        "type": rel_type,
        "target_label": target_label,
        "target_key": cypher.quote(target.target_key),
        "owned": f"(n)-[old{rel_type}]->(m{target_label})" if outgoing else f"(n)<-[old{rel_type}]-(m{target_label})",
        "arrow": f"(n)-[{rel_type}]->(m)" if outgoing else f"(m)-[{rel_type}]->(n)",
    }


def chosen(mappings: Sequence[M], entities: Collection[str] | None) -> list[M]:
    """The mappings named in `entities`, or all of them when it is None."""
    return [m for m in mappings if entities is None or m.name in entities]


def kept(mapping: NodeMapping | RelationshipMapping, keep: Mapping[str, Sequence[Any]] | None) -> list[Any]:
    """What a sweep leaves of one mapping (`keep`: keys by entity type): node keys as stored, relationships
    by the identity they are stored under."""
    keys = (keep or {}).get(mapping.name, ())
    if isinstance(mapping, NodeMapping):
        return list(keys)
    return [entity_id(mapping.name, key) for key in keys]


def newer(ties: bool, *, relationship: bool = False) -> LiteralString:
    """When a change's version is newer than what the target holds (`previous`), for the upserts to write it:
    above it; or, with `ties`, also equal to it with other contents (`digest`, see rows.plan). A tie is a
    later read of the same row where a version can be seen again with new contents: an incremental scan
    reading again a row whose watermark did not move. Read again unchanged, it writes nothing."""
    if not ties:
        return "previous < row.version"
    if relationship:
        return (
            "(previous < row.version"
            " OR (previous = row.version AND none(o IN olds WHERE o._graphsync_digest = row.digest)))"
        )
    return "(previous < row.version OR (previous = row.version AND coalesce(digest, 0) <> row.digest))"


def past_tombstone(ties: bool) -> LiteralString:
    """When an upsert is newer than the delete recorded for its entity (`tomb`): above it; or, with `ties`,
    also equal to it. Where versions are watermark values a counter moves by one, a repair's delete (one
    above what the target held) and the row's next real update can carry the same version; the update is
    the one that happened in the source."""
    if ties:
        return "(tomb IS NULL OR tomb.version <= row.version)"
    return "(tomb IS NULL OR tomb.version < row.version)"


def digest_set(ties: bool, variable: str) -> str:
    """The contents digest a tie is decided on, kept with the version where ties win."""
    return f", {variable}._graphsync_digest = row.digest" if ties else ""
