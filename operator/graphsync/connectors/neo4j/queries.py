"""Cypher templates of the Neo4j sink.

Concurrency: several consumers may apply changes to the same entity at once.
Every write path first takes the same lock (MERGE on the uniquely constrained
key, or on both endpoints of a relationship), and only then reads the stored
version, so the version guard can never be raced into a lost update. A node
MERGE has just created is already locked by its transaction; a matched one gets
its lock by a real write (setting a marker property, then removing it: setting an
absent property to null writes nothing, so takes no lock).

Placeholders: a node MERGE creates only so a relationship has an end, and a node a delete stripped, carry
`_graphsync_placeholder` until their own upsert replaces every property. Orphan cleanup takes only those:
a node an application wrote has no version either, and losing its last relationship must not delete it.
"""

from __future__ import annotations

from typing import LiteralString

CONSTRAINT: LiteralString = "CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n{label}) REQUIRE n.{key} IS UNIQUE"
REL_INDEX: LiteralString = "CREATE INDEX {name} IF NOT EXISTS FOR ()-[r{type}]-() ON (r._graphsync_key)"
# What a probe of an idle target runs: a round trip, nothing read or written.
PING: LiteralString = "RETURN 1"
# A write no record is part of and that leaves nothing behind: refused only by a target refusing every write.
CANARY: LiteralString = "CREATE (c:GraphsyncCanary) DELETE c"

# Upsert nodes whose incoming version is newer than both the node's and any tombstone's (`{newer}`: see
# slots.newer for when a tie wins). A node MERGE created for a row older than its tombstone holds just its key
# and is marked a placeholder; marking every created node first cost each insert a property write (5%).
UPSERT_NODES: LiteralString = """
UNWIND $rows AS row
MERGE (n{label} {{{key}: row.key}})
ON MATCH SET n._graphsync_lock = true
REMOVE n._graphsync_lock
WITH n, row, n._graphsync_version AS previous, n._graphsync_digest AS digest
OPTIONAL MATCH (tomb:GraphsyncTombstone {{id: row.tombstone}})
WITH n, row, previous, digest, {past_tombstone} AS past
FOREACH (_ IN CASE WHEN NOT past AND size(keys(n)) = 1 THEN [1] ELSE [] END | SET n._graphsync_placeholder = true)
WITH n, row, previous, digest, past
WHERE (previous IS NULL OR {newer}) AND past
SET n = row.props, n._graphsync_version = row.version{digest}{extra_labels}
WITH n, row, previous
{foreign_keys}
RETURN count(previous) AS updated, count(*) - count(previous) AS created{former}
"""

# One per foreign key, inside UPSERT_NODES: a node that had a version may own an old
# relationship of this type (dropped first, its target kept for orphan cleanup); then
# the relationship to the row's target, whose node is a placeholder until it arrives.
FOREIGN_KEY: LiteralString = """
CALL (n, row, previous) {{
  OPTIONAL MATCH {owned}
  WHERE previous IS NOT NULL
  DELETE old
  RETURN collect(m.{target_key}) AS {former}
}}
FOREACH (target IN CASE WHEN row.fks.{column} IS NULL THEN [] ELSE [row.fks.{column}] END |
  MERGE (m{target_label} {{{target_key}: target}})
  ON CREATE SET m._graphsync_placeholder = true
  CREATE {arrow}
)
"""

# Delete by tombstone: record the version, then strip the node to a keyed placeholder
# (its owned relationships are dropped separately); `DROP_ORPHANS` then removes it
# unless other entities still point at it. A node written by hand (properties, no version)
# counts as version -1, so its delete (a reconciliation's) is counted. A new tombstone starts at version -1: a
# stale delete may create one, and a NULL version would block every later upsert.
DELETE_NODES: LiteralString = """
UNWIND $rows AS row
MERGE (n{label} {{{key}: row.key}})
ON CREATE SET n._graphsync_placeholder = true
ON MATCH SET n._graphsync_lock = true
REMOVE n._graphsync_lock
WITH n, row, coalesce(n._graphsync_version, CASE WHEN size(keys(n)) > 1 THEN -1 END) AS previous
MERGE (tomb:GraphsyncTombstone {{id: row.tombstone}})
ON CREATE SET tomb.version = -1
WITH n, row, tomb, previous
WHERE tomb.version < row.version AND (previous IS NULL OR previous < row.version)
SET tomb.version = row.version, tomb.at = timestamp()
SET n = {{{key}: row.key, _graphsync_placeholder: true}}
{strip_labels}
RETURN count(previous) AS deleted, collect(row.key) AS applied
"""

# Locked before its relationships are counted: Neo4j takes no node lock to delete a relationship of a dense node,
# so two transactions each removing some of a placeholder's last relationships would each still see the other's
# and both keep it. Locked in key order, so two batches sharing placeholders wait instead of deadlocking.
DROP_ORPHANS: LiteralString = """
UNWIND $keys AS key
WITH DISTINCT key ORDER BY key
MATCH (n{label} {{{key}: key}})
WHERE n._graphsync_placeholder
SET n._graphsync_lock = true
REMOVE n._graphsync_lock
WITH n
WHERE n._graphsync_placeholder AND NOT (n)--()
DELETE n
"""

# A foreign key: replace the relationship the owning node holds of this type.
DROP_FOREIGN_KEY: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
MATCH {owned}
DELETE old
RETURN collect(DISTINCT m.{target_key}) AS former
"""

# Both ends of each relationship row, created as placeholders where missing, and locked (see the top).
_ENDS: LiteralString = """
UNWIND $rows AS row
MERGE (a{source_label} {{{source_key}: row.source}})
ON CREATE SET a._graphsync_placeholder = true
MERGE (b{target_label} {{{target_key}: row.target}})
ON CREATE SET b._graphsync_placeholder = true
SET a._graphsync_lock = true, b._graphsync_lock = true
REMOVE a._graphsync_lock, b._graphsync_lock
"""

# A join-table row: one relationship keyed by the row's key, between two keyed nodes.
UPSERT_RELATIONSHIPS: LiteralString = (
    _ENDS
    + """WITH a, b, row
OPTIONAL MATCH (tomb:GraphsyncTombstone {{id: row.tombstone}})
{old}
WITH a, b, row, tomb, collect(old) AS olds
WITH a, b, row, olds,
     reduce(v = -1, o IN olds | CASE WHEN coalesce(o._graphsync_version, -1) > v THEN o._graphsync_version ELSE v END)
     AS previous
WHERE {newer} AND {past_tombstone}
FOREACH (o IN olds | DELETE o)
CREATE (a)-[r{type}]->(b)
SET r = row.props, r._graphsync_key = row.tombstone, r._graphsync_version = row.version{digest}
RETURN count(CASE WHEN previous >= 0 THEN 1 END) AS updated, count(CASE WHEN previous < 0 THEN 1 END) AS created
"""
)

# The relationship a row replaces or deletes (`{old}` above, between the bound ends `a` and `b`): the
# one the engine wrote under the row's identity; when the key is just the two ends, also one written by hand.
OLD_BY_KEY: LiteralString = "OPTIONAL MATCH ()-[old{type} {{_graphsync_key: row.tombstone}}]->()"
OLD_BY_ENDS: LiteralString = (
    "OPTIONAL MATCH (a)-[old{type}]->(b) WHERE old._graphsync_key IS NULL OR old._graphsync_key = row.tombstone"
)

DELETE_RELATIONSHIPS: LiteralString = (
    _ENDS
    + """WITH row, a, b
MERGE (tomb:GraphsyncTombstone {{id: row.tombstone}})
ON CREATE SET tomb.version = -1
WITH row, tomb, a, b
WHERE tomb.version < row.version
SET tomb.version = row.version, tomb.at = timestamp()
WITH row, a, b
{old}
WITH row, old WHERE old IS NULL OR coalesce(old._graphsync_version, -1) < row.version
DELETE old
RETURN count(old) AS deleted
"""
)

# Retention deletes tombstones by age (see graphsync.retention).
TOMBSTONE_AGE_INDEX: LiteralString = (
    "CREATE INDEX graphsync_tombstone_at IF NOT EXISTS FOR (t:GraphsyncTombstone) ON (t.at)"
)
TOMBSTONE_CONSTRAINT: LiteralString = (
    "CREATE CONSTRAINT graphsync_tombstone_id IF NOT EXISTS FOR (t:GraphsyncTombstone) REQUIRE t.id IS UNIQUE"
)
