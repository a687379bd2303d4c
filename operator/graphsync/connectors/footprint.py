"""What a batch's writes lock on a graph target, known before it is sent (pure).

Two batches of one pipeline may be applied at once only when no node is written by both: Neo4j locks
each node a transaction writes (a relationship's two ends with it) until the commit, and two transactions
that take the same nodes in different orders deadlock. The footprint is known only for writes whose locks
the rows name; any other batch (deletes, which detach every neighbour; foreign keys, which drop a former
target the rows do not name; relationships keyed apart from their ends, whose former ends are unknown)
has none, and is applied alone.
"""

from __future__ import annotations

import json
from typing import Any

from graphsync.connectors.rows import Plan
from graphsync.connectors.slots import keyed_by_ends

# A node, as its mapping's name (which owns its first label) and its key.
Node = tuple[str, Any]


def footprint(staged: object) -> frozenset[Node] | None:
    """The nodes a staged batch writes, or None when they cannot all be named ahead (see above)."""
    if not isinstance(staged, Plan):
        return None
    nodes: set[Node] = set()
    for node_rows in staged.nodes:
        if node_rows.deletes or (node_rows.upserts and node_rows.mapping.foreign_keys):
            return None
        nodes.update((node_rows.mapping.name, _hashable(row["key"])) for row in node_rows.upserts)
    for rel_rows in staged.relationships:
        mapping = rel_rows.mapping
        if rel_rows.deletes or (rel_rows.upserts and not keyed_by_ends(mapping)):
            return None
        for row in rel_rows.upserts:
            nodes.add((mapping.source.references, _hashable(row["source"])))
            nodes.add((mapping.target.references, _hashable(row["target"])))
    return frozenset(nodes)


def _hashable(key: Any) -> Any:
    """Scalars as they are; a composite value as its JSON text (the same value, the same text)."""
    if isinstance(key, str | int | float | bool):
        return key
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=str)
