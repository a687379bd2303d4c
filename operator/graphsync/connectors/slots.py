"""Identifier slots the graph sinks' query templates share (see `cypher.render`), from the mappings."""

from __future__ import annotations

from graphsync.connectors import cypher
from graphsync.spec.mapping import ForeignKey, Mappings, RelationshipMapping


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
    target = mappings.node(fk.references)
    return {
        "type": cypher.labels([fk.type]),
        "target_label": cypher.labels([target.labels[0]]),
        "target_key": cypher.quote(target.target_key),
    }
