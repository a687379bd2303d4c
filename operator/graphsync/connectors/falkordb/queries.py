"""Cypher templates of the FalkorDB sink.

FalkorDB runs one write query at a time per graph and each query is atomic, so,
unlike the Neo4j sink, no locks are taken: a query reads the stored versions
and writes in one step. Every template does its whole job in one query (no
result feeds another), so a batch's queries go in one MULTI/EXEC and a
replayed batch converges. Nodes that may have become pointless placeholders
are marked with a label and removed at the end of the batch (`DROP_ORPHANS`);
a mark left by a crash is cleared by the next batch. Only placeholders the engine made
(`_graphsync_placeholder`: a MERGE created them for a relationship's end, or a delete stripped
them) are ever removed: a node an application wrote has no version either.

FalkorDB drops the writes of rows a later WHERE filters out, so every guard
comes before the first write of its query.
"""

from __future__ import annotations

from typing import LiteralString

MAYBE_ORPHAN: LiteralString = "GraphsyncMaybeOrphan"

NODE_INDEX: LiteralString = "CREATE INDEX FOR (n{label}) ON (n.{key})"
TOMBSTONE_INDEX: LiteralString = "CREATE INDEX FOR (t:GraphsyncTombstone) ON (t.id)"
# Retention deletes tombstones by age (see graphsync.retention).
TOMBSTONE_AGE_INDEX: LiteralString = "CREATE INDEX FOR (t:GraphsyncTombstone) ON (t.at)"
REL_INDEX: LiteralString = "CREATE INDEX FOR ()-[r{type}]-() ON (r._graphsync_key)"
# What a probe of an idle target runs: a round trip, nothing read or written.
PING: LiteralString = "RETURN 1"
# A write no record is part of and that leaves nothing behind: refused only by a target refusing every write.
CANARY: LiteralString = "CREATE (c:GraphsyncCanary) DELETE c"

UPSERT_NODES: LiteralString = """
UNWIND $rows AS row
OPTIONAL MATCH (existing{label} {{{key}: row.key}})
OPTIONAL MATCH (tomb:GraphsyncTombstone {{id: row.tombstone}})
WITH row, existing._graphsync_version AS previous, existing._graphsync_digest AS digest, tomb
WHERE (previous IS NULL OR {newer}) AND {past_tombstone}
MERGE (n{label} {{{key}: row.key}})
SET n = row.props
SET n._graphsync_version = row.version{digest}{extra_labels}
{temporal}WITH n, row, previous
{foreign_keys}
RETURN count(previous) AS updated, count(*) - count(previous) AS created
"""

# One per foreign key, inside UPSERT_NODES: drop the relationship of this type the node
# owned (marking its old target), then link the row's target, a placeholder until it arrives.
FOREIGN_KEY: LiteralString = """
OPTIONAL MATCH {owned}
DELETE old
SET m:GraphsyncMaybeOrphan
WITH DISTINCT n, row, previous
FOREACH (target IN CASE WHEN row.fks.{column} IS NULL THEN [] ELSE [row.fks.{column}] END |
  MERGE (m{target_label} {{{target_key}: target}})
  ON CREATE SET m._graphsync_placeholder = true
  CREATE {arrow}
)
"""

# A delete newer than both the node and its tombstone records the tombstone and strips
# the node to a marked, keyed placeholder; the relationships it owned go in OWNED. A node
# written by hand (properties, no version) counts as version -1, so its delete is counted.
DELETE_NODES: LiteralString = """
UNWIND $rows AS row
OPTIONAL MATCH (n{label} {{{key}: row.key}})
OPTIONAL MATCH (tomb:GraphsyncTombstone {{id: row.tombstone}})
WITH row, n, coalesce(n._graphsync_version, CASE WHEN size(keys(n)) > 1 THEN -1 END) AS previous, tomb
WHERE (tomb IS NULL OR tomb.version < row.version) AND (previous IS NULL OR previous < row.version)
MERGE (t:GraphsyncTombstone {{id: row.tombstone}})
SET t.version = row.version, t.at = timestamp()
FOREACH (x IN CASE WHEN n IS NULL THEN [] ELSE [n] END |
  SET x = {{{key}: row.key, _graphsync_placeholder: true}}, x:GraphsyncMaybeOrphan{strip_labels}
)
WITH row, n, previous
{owned_drops}
RETURN count(previous) AS deleted
"""

# One per foreign key, inside DELETE_NODES.
OWNED: LiteralString = """
OPTIONAL MATCH {owned}
DELETE old
SET m:GraphsyncMaybeOrphan
WITH DISTINCT row, n, previous
"""
STRIP_LABELS: LiteralString = " REMOVE x{labels}"

# Temporal values have no parameter form in FalkorDB: they travel as ISO text in
# `row.t`, one list slot per property of the batch, and are converted here.
TEMPORAL: LiteralString = (
    "FOREACH (v IN CASE WHEN row.t[{index}] IS NULL THEN [] ELSE [row.t[{index}]] END | "
    "SET {var}.{name} = {function}(v))\n"
)

# A join-table row: one relationship keyed by the row's key, between two keyed nodes.
UPSERT_RELATIONSHIPS: LiteralString = """
UNWIND $rows AS row
OPTIONAL MATCH (tomb:GraphsyncTombstone {{id: row.tombstone}})
{old}
WITH row, tomb, collect(old) AS olds, collect(old_a) + collect(old_b) AS ends
WITH row, tomb, olds, ends,
     reduce(v = -1, o IN olds | CASE WHEN coalesce(o._graphsync_version, -1) > v THEN o._graphsync_version ELSE v END)
     AS previous
WHERE {newer} AND {past_tombstone}
FOREACH (o IN olds | DELETE o)
FOREACH (e IN ends | SET e:GraphsyncMaybeOrphan)
MERGE (a{source_label} {{{source_key}: row.source}})
ON CREATE SET a._graphsync_placeholder = true
MERGE (b{target_label} {{{target_key}: row.target}})
ON CREATE SET b._graphsync_placeholder = true
CREATE (a)-[r{type}]->(b)
SET r = row.props
SET r._graphsync_key = row.tombstone, r._graphsync_version = row.version{digest}
{temporal}RETURN count(CASE WHEN previous >= 0 THEN 1 END) AS updated,
       count(CASE WHEN previous < 0 THEN 1 END) AS created
"""

# The relationship a row replaces or deletes (`{old}` above): the one the engine wrote under the
# row's identity; when the key is just the two ends, also one written by hand between them.
OLD_BY_KEY: LiteralString = "OPTIONAL MATCH (old_a)-[old{type} {{_graphsync_key: row.tombstone}}]->(old_b)"
OLD_BY_ENDS: LiteralString = (
    "OPTIONAL MATCH (old_a{source_label} {{{source_key}: row.source}})-[old{type}]->"
    "(old_b{target_label} {{{target_key}: row.target}}) "
    "WHERE old._graphsync_key IS NULL OR old._graphsync_key = row.tombstone"
)

DELETE_RELATIONSHIPS: LiteralString = """
UNWIND $rows AS row
OPTIONAL MATCH (tomb:GraphsyncTombstone {{id: row.tombstone}})
{old}
WITH row, tomb, old, old_a, old_b
WHERE (tomb IS NULL OR tomb.version < row.version)
  AND (old IS NULL OR coalesce(old._graphsync_version, -1) < row.version)
MERGE (t:GraphsyncTombstone {{id: row.tombstone}})
SET t.version = row.version, t.at = timestamp()
FOREACH (e IN CASE WHEN old IS NULL THEN [] ELSE [old_a, old_b] END | SET e:GraphsyncMaybeOrphan)
DELETE old
RETURN count(old) AS deleted
"""

# Marked nodes that are bare placeholders nothing points at any more; then the marks.
DROP_ORPHANS: LiteralString = """
MATCH (m:GraphsyncMaybeOrphan)
WHERE m._graphsync_placeholder AND NOT (m)--()
DELETE m
"""
CLEAR_MARKS: LiteralString = "MATCH (m:GraphsyncMaybeOrphan) REMOVE m:GraphsyncMaybeOrphan"
