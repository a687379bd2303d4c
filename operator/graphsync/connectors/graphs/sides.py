"""How each side of a graph pipeline names a mapping's entities, as query slots.

The source graph is read with the mapping's source names (`sourceLabel`, the
key column as a property, `sourceType`); the target graph holds the mapped
names (first label, key property, type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, LiteralString

from graphsync.connectors import cypher
from graphsync.connectors.graphs import queries
from graphsync.spec.mapping import Mappings, NodeMapping, RelationshipMapping


def node_slots(mapping: NodeMapping, *, target: bool) -> dict[str, str]:
    if target:
        return {"label": cypher.labels([mapping.labels[0]]), "key": cypher.quote(mapping.target_key)}
    return {"label": cypher.labels([mapping.read_label]), "key": cypher.quote(mapping.key)}


def relationship_slots(mappings: Mappings, mapping: RelationshipMapping, *, target: bool) -> dict[str, str]:
    start = node_slots(mappings.node(mapping.source.references), target=target)
    end = node_slots(mappings.node(mapping.target.references), target=target)
    return {
        "source_label": start["label"],
        "key": start["key"],
        "target_label": end["label"],
        "target_key": end["key"],
        "type": cypher.labels([mapping.type if target else mapping.read_type]),
    }


def where(*conditions: LiteralString, **slots: str) -> str:
    """A WHERE clause of constant conditions (from `queries`), their identifier slots filled."""
    if not conditions:
        return ""
    return "WHERE " + " AND ".join(cypher.render(c, **slots) for c in conditions)


def query(template: LiteralString, slots: Mapping[str, str], *conditions: LiteralString) -> LiteralString:
    return cypher.render(template, **slots, where=where(*conditions, **slots))


def key_range(low_set: bool, high_set: bool) -> tuple[LiteralString, ...]:
    return (queries.ABOVE,) * low_set + (queries.UP_TO,) * high_set


# Where a page of relationships ends: after every relationship of a start key (end None), or after the one
# from that start key to an end key.
Bound = tuple[Any, Any]


def relationship_range(low: Bound | None, high: Bound | None) -> tuple[tuple[LiteralString, ...], dict[str, Any]]:
    """The conditions and parameters of the relationships in (low, high] (None: unbounded)."""
    conditions: tuple[LiteralString, ...] = ()
    if low is not None:
        conditions += (queries.ABOVE if low[1] is None else queries.REL_ABOVE,)
    if high is not None:
        conditions += (queries.UP_TO if high[1] is None else queries.REL_UP_TO,)
    low_key, low_end = low or (None, None)
    high_key, high_end = high or (None, None)
    return conditions, {"low": low_key, "low_end": low_end, "high": high_key, "high_end": high_end}
