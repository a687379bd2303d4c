"""Cypher of the document store, the same text for Neo4j and FalkorDB.

A batch of documents is written by a list of these statements run in one
transaction (Neo4j) or one MULTI/EXEC (FalkorDB). Each statement stands alone (no result feeds the
next), and every guard comes before the first write of its query: FalkorDB drops
the writes of rows a later WHERE filters out.

Reference counts are read and written back: in Neo4j a query first writes the
entity (`SET x._graphsync_lock = null`, which takes its write lock), so two
documents that share it cannot both read the same count.
"""

from __future__ import annotations

from typing import LiteralString

DOCUMENT_LABEL: LiteralString = "GraphsyncDocument"
REFS: LiteralString = "_graphsync_refs"

NEO4J_NODE_CONSTRAINT: LiteralString = "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n{label}) REQUIRE n.{key} IS UNIQUE"
NEO4J_DOCUMENT_CONSTRAINT: LiteralString = (
    "CREATE CONSTRAINT graphsync_document_id IF NOT EXISTS FOR (d:GraphsyncDocument) REQUIRE d.id IS UNIQUE"
)
FALKOR_NODE_INDEX: LiteralString = "CREATE INDEX FOR (n{label}) ON (n.{key})"
FALKOR_DOCUMENT_INDEX: LiteralString = "CREATE INDEX FOR (d:GraphsyncDocument) ON (d.id)"
NEO4J_LEASE_CONSTRAINT: LiteralString = (
    "CREATE CONSTRAINT graphsync_lease_id IF NOT EXISTS FOR (l:GraphsyncLease) REQUIRE l.id IS UNIQUE"
)
FALKOR_LEASE_INDEX: LiteralString = "CREATE INDEX FOR (l:GraphsyncLease) ON (l.id)"

# A pipeline's writer lease: taken when free, expired or already ours (then its expiry moves on); returns
# the holder after the query, another's when it was not free. `seen` is written first so that in Neo4j the
# lease is locked before its holder is read (two writers cannot both find it free).
TAKE_LEASE: LiteralString = """
MERGE (l:GraphsyncLease {id: $id})
SET l.seen = $now
WITH l, (l.holder IS NULL OR l.holder = $holder OR l.expires < $now) AS free
SET l.holder = CASE WHEN free THEN $holder ELSE l.holder END,
    l.expires = CASE WHEN free THEN $now + $seconds ELSE l.expires END
RETURN l.holder
"""
RELEASE_LEASE: LiteralString = """
MATCH (l:GraphsyncLease {id: $id})
WHERE l.holder = $holder
SET l.holder = null, l.expires = null
"""

READ_DOCUMENTS: LiteralString = """
UNWIND $ids AS id
MATCH (d:GraphsyncDocument {id: id})
RETURN d.id AS id, d.hash AS hash, d.merkle AS merkle, d.nodes AS nodes, d.edges AS edges, d.error AS error
"""

# Documents of a pipeline in id order, a page after `after`: `prefix` is the pipeline's.
LIST_DOCUMENTS: LiteralString = """
MATCH (d:GraphsyncDocument)
WHERE d.id > $after AND d.id STARTS WITH $prefix
RETURN d.id AS id
ORDER BY d.id
LIMIT $limit
"""

FAILED_DOCUMENTS: LiteralString = """
MATCH (d:GraphsyncDocument)
WHERE d.id STARTS WITH $prefix AND d.error IS NOT NULL
RETURN d.path AS path, d.error AS error
ORDER BY d.path
LIMIT $limit
"""

CURRENT_LABELS: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
RETURN n.{key} AS key, labels(n) AS labels
"""

# `row.add` is 1 when the document newly contains the node, else 0.
UPSERT_NODES: LiteralString = """
UNWIND $rows AS row
MERGE (n{label} {{{key}: row.key}})
SET n._graphsync_lock = true
SET n._graphsync_lock = null
WITH n, row, coalesce(n._graphsync_refs, 0) + row.add AS refs
SET n = row.props
SET n._graphsync_refs = refs{labels}
"""

REMOVE_LABELS: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
REMOVE n{labels}
"""

# Endpoints another document defines (by id) are placeholders, counted by no document, until it arrives.
UPSERT_EDGES: LiteralString = """
UNWIND $rows AS row
MERGE (a{label} {{{key}: row.source}})
ON CREATE SET a._graphsync_refs = 0
MERGE (b{label} {{{key}: row.target}})
ON CREATE SET b._graphsync_refs = 0
MERGE (a)-[r{type}]->(b)
SET r._graphsync_lock = true
SET r._graphsync_lock = null
WITH r, row, coalesce(r._graphsync_refs, 0) + row.add AS refs
SET r = row.props
SET r._graphsync_refs = refs
"""

RELEASE_EDGES: LiteralString = """
UNWIND $rows AS row
MATCH (a{label} {{{key}: row.source}})-[r{type}]->(b{label} {{{key}: row.target}})
SET r._graphsync_lock = true
SET r._graphsync_lock = null
SET r._graphsync_refs = r._graphsync_refs - row.count
"""

DROP_EDGES: LiteralString = """
UNWIND $rows AS row
MATCH (a{label} {{{key}: row.source}})-[r{type}]->(b{label} {{{key}: row.target}})
WHERE r._graphsync_refs <= 0
DELETE r
"""

RELEASE_NODES: LiteralString = """
UNWIND $rows AS row
MATCH (n{label} {{{key}: row.key}})
SET n._graphsync_lock = true
SET n._graphsync_lock = null
SET n._graphsync_refs = n._graphsync_refs - row.count
"""

# A node no document contains any more, but that other documents still link to, stays as a bare placeholder.
STRIP_NODES: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
WHERE n._graphsync_refs <= 0
SET n = {{{key}: key, _graphsync_refs: 0}}{remove}
"""

DROP_NODES: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
WHERE n._graphsync_refs <= 0 AND NOT (n)--()
DELETE n
"""

SAVE_DOCUMENTS: LiteralString = """
UNWIND $rows AS row
MERGE (d:GraphsyncDocument {id: row.id})
SET d.path = row.path, d.hash = row.hash, d.merkle = row.merkle, d.nodes = row.nodes, d.edges = row.edges,
    d.commit = row.commit, d.synced_at = row.synced_at, d.error = null
"""

# A file that cannot be synced keeps what it contributed before; its hash and error are recorded.
SAVE_FAILURES: LiteralString = """
UNWIND $rows AS row
MERGE (d:GraphsyncDocument {id: row.id})
SET d.path = row.path, d.hash = row.hash, d.error = row.error, d.commit = row.commit, d.synced_at = row.synced_at
"""

DELETE_DOCUMENTS: LiteralString = """
UNWIND $ids AS id
MATCH (d:GraphsyncDocument {id: id})
DELETE d
"""

# The pipeline's position (the last commit fully synced), next to the documents it describes.
READ_CHECKPOINT: LiteralString = "MATCH (c:GraphsyncCheckpoint {id: $id}) RETURN c.value AS value"
SAVE_CHECKPOINT: LiteralString = "MERGE (c:GraphsyncCheckpoint {id: $id}) SET c.value = $value"
