"""Read-only Cypher that Neo4j and FalkorDB both understand, for graph sources and target comparison.

Slots take quoted identifiers (see `cypher.render`); `{where}` takes one of the
constant conditions below. Every query returns its rows as one list (`collect`):
one value to decode instead of a record per row, several times faster to read
through the Neo4j driver (see `reading.fetch`). Paging is by key range on the (start) node key, or by
watermark, never by SKIP, so every page costs the same however deep the scan.
"""

from __future__ import annotations

from typing import LiteralString

# Key ranges: (low, high], either end open.
ABOVE: LiteralString = "n.{key} > $low"
UP_TO: LiteralString = "n.{key} <= $high"
# Target entities the engine wrote (placeholders and tombstones have no version).
SYNCED: LiteralString = "n._graphsync_version IS NOT NULL"
# Watermark paging is by (watermark, key), since many entities may share a watermark (a
# bulk load): first the rest of the last watermark, by key, then the watermarks above it.
# Each condition is a plain equality or range on the watermark, which an index serves.
WATERMARK_SET: LiteralString = "n.{watermark} IS NOT NULL"
WATERMARK_REST: LiteralString = "n.{watermark} = $low AND n.{key} > $low_key"
WATERMARK_ABOVE: LiteralString = "n.{watermark} > $low"
WATERMARK_FROM: LiteralString = "n.{watermark} >= $low"
WATERMARK_NULL: LiteralString = "n.{watermark} IS NULL"

KEYS: LiteralString = """
MATCH (n{label}) {where}
WITH n.{key} AS key ORDER BY key LIMIT $limit
RETURN collect([key]) AS rows
"""

NODES: LiteralString = """
MATCH (n{label}) {where}
RETURN collect([n.{key}, properties(n)]) AS rows
"""

# Key scans (deletes only): keys and the engine's bookkeeping, no user properties.
NODE_KEYS: LiteralString = """
MATCH (n{label}) {where}
RETURN collect([n.{key}, {{{key}: n.{key}, _graphsync_version: n._graphsync_version}}]) AS rows
"""

NODES_BY_WATERMARK: LiteralString = """
MATCH (n{label}) {where}
WITH n ORDER BY n.{watermark}, n.{key} LIMIT $limit
RETURN collect([n.{key}, properties(n), n.{watermark}]) AS rows
"""

# Relationships are paged by their start node's key: `n` is the start node. A page may also end inside
# one start node's relationships (a super-node with more than a page of them): its bounds are then
# (start key, end key) pairs, compared in that order. The start key's own range comes first, so its
# index serves the scan; the end key only narrows the page's two edge start nodes.
REL_ABOVE: LiteralString = "n.{key} >= $low AND (n.{key} > $low OR m.{target_key} > $low_end)"
REL_UP_TO: LiteralString = "n.{key} <= $high AND (n.{key} < $high OR m.{target_key} <= $high_end)"
# Where such a page ends: the first `limit` (start key, end key) pairs of a range.
REL_PAIRS: LiteralString = """
MATCH (n{source_label})-[r{type}]->(m{target_label}) {where}
WITH n.{key} AS key, m.{target_key} AS end ORDER BY key, end LIMIT $limit
RETURN collect([key, end]) AS rows
"""

RELATIONSHIPS: LiteralString = """
MATCH (n{source_label})-[r{type}]->(m{target_label}) {where}
RETURN collect([n.{key}, m.{target_key}, properties(r)]) AS rows
"""

RELATIONSHIP_KEYS: LiteralString = """
MATCH (n{source_label})-[r{type}]->(m{target_label}) {where}
RETURN collect([n.{key}, m.{target_key},
                {{_graphsync_key: r._graphsync_key, _graphsync_version: r._graphsync_version}}]) AS rows
"""

RELATIONSHIPS_BY_WATERMARK: LiteralString = """
MATCH (n{source_label})-[r{type}]->(m{target_label}) {where}
WITH n, r, m ORDER BY r.{watermark}, n.{key}, m.{target_key} LIMIT $limit
RETURN collect([n.{key}, m.{target_key}, properties(r), r.{watermark}]) AS rows
"""
# Relationships page by (watermark, start key, end key).
REL_WATERMARK_SET: LiteralString = "r.{watermark} IS NOT NULL"
REL_WATERMARK_REST: LiteralString = (
    "r.{watermark} = $low AND (n.{key} > $low_key OR (n.{key} = $low_key AND m.{target_key} > $low_end))"
)
REL_WATERMARK_ABOVE: LiteralString = "r.{watermark} > $low"
REL_WATERMARK_FROM: LiteralString = "r.{watermark} >= $low"
REL_WATERMARK_NULL: LiteralString = "r.{watermark} IS NULL"

# Where a snapshot starts the increments that follow it.
MAX_NODE_WATERMARK: LiteralString = "MATCH (n{label}) WITH max(n.{watermark}) AS top RETURN [[top]] AS rows"
MAX_REL_WATERMARK: LiteralString = (
    "MATCH (n{source_label})-[r{type}]->(m{target_label}) WITH max(r.{watermark}) AS top RETURN [[top]] AS rows"
)
REL_SYNCED: LiteralString = "r._graphsync_version IS NOT NULL"
