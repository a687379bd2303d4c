"""Read-only Cypher that Neo4j and FalkorDB both understand, for graph sources and target comparison.

Slots take quoted identifiers (see `cypher.render`); `{where}` takes one of the
constant conditions below. Paging is by key range on the (start) node key, or by
watermark, never by SKIP, so every page costs the same however deep the scan.
"""

from __future__ import annotations

from typing import LiteralString

# Key ranges: (low, high], either end open.
ABOVE: LiteralString = "n.{key} > $low"
UP_TO: LiteralString = "n.{key} <= $high"
# Target entities the engine wrote (placeholders and tombstones have no version).
SYNCED: LiteralString = "n._graphsync_version IS NOT NULL"
# Watermark paging is by (watermark, key): many entities may share a watermark (a bulk load).
WATERMARK_SET: LiteralString = "n.{watermark} IS NOT NULL"
WATERMARK_AFTER: LiteralString = "(n.{watermark} > $low OR (n.{watermark} = $low AND n.{key} > $low_key))"

KEYS: LiteralString = """
MATCH (n{label}) {where}
RETURN n.{key} AS key
ORDER BY key
LIMIT $limit
"""

NODES: LiteralString = """
MATCH (n{label}) {where}
RETURN n.{key} AS key, properties(n) AS props
"""

# Key scans (deletes only): keys and the engine's bookkeeping, no user properties.
NODE_KEYS: LiteralString = """
MATCH (n{label}) {where}
RETURN n.{key} AS key, {{{key}: n.{key}, _graphsync_version: n._graphsync_version}} AS props
"""

NODES_BY_WATERMARK: LiteralString = """
MATCH (n{label}) {where}
RETURN n.{key} AS key, properties(n) AS props, n.{watermark} AS watermark
ORDER BY watermark, key
LIMIT $limit
"""

# Relationships are paged by their start node's key: `n` is the start node.
RELATIONSHIPS: LiteralString = """
MATCH (n{source_label})-[r{type}]->(m{target_label}) {where}
RETURN n.{key} AS source, m.{target_key} AS target, properties(r) AS props
"""

RELATIONSHIP_KEYS: LiteralString = """
MATCH (n{source_label})-[r{type}]->(m{target_label}) {where}
RETURN n.{key} AS source, m.{target_key} AS target,
       {{_graphsync_key: r._graphsync_key, _graphsync_version: r._graphsync_version}} AS props
"""

RELATIONSHIPS_BY_WATERMARK: LiteralString = """
MATCH (n{source_label})-[r{type}]->(m{target_label}) {where}
RETURN n.{key} AS source, m.{target_key} AS target, properties(r) AS props, r.{watermark} AS watermark
ORDER BY watermark, source, target
LIMIT $limit
"""
# Relationships page by (watermark, start key, end key).
REL_WATERMARK_SET: LiteralString = "r.{watermark} IS NOT NULL"
REL_WATERMARK_AFTER: LiteralString = """(r.{watermark} > $low OR (r.{watermark} = $low AND
  (n.{key} > $low_key OR (n.{key} = $low_key AND m.{target_key} > $low_end))))"""
REL_SYNCED: LiteralString = "r._graphsync_version IS NOT NULL"
