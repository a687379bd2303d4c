"""Read-only Cypher for the graph sides of a comparison, understood by Neo4j and FalkorDB (slots as in
`connectors.graphs.queries`).

Target nodes are read with what a sync writes besides properties: the mapping's
labels, and the end keys of the relationships their foreign keys own (`{ends}`,
one `FK_ENDS` per foreign key), so drift in either shows up as a difference.
"""

from __future__ import annotations

from typing import LiteralString

TARGET_NODES: LiteralString = """
MATCH (n{label}) {where}
RETURN collect([n.{key}, properties(n), labels(n), [{ends}]]) AS rows
"""
FK_ENDS: LiteralString = "[{owned} | m.{target_key}]"

# Scope by ids: the node keys asked for (relationships by their start node's key).
IN_IDS: LiteralString = "n.{key} IN $ids"

COUNT_NODES: LiteralString = "MATCH (n{label}) RETURN [[count(n)]] AS rows"
COUNT_RELATIONSHIPS: LiteralString = "MATCH (n{source_label})-[r{type}]->(m{target_label}) RETURN [[count(r)]] AS rows"

TOMBSTONES: LiteralString = """
MATCH (t:GraphsyncTombstone) WHERE t.id IN $ids
RETURN collect([t.id, t.version]) AS rows
"""
