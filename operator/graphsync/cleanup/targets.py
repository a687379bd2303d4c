"""The graphs: reconciliation records, tombstones and version marks, a rebuild's leftover; and a files mirror."""

from __future__ import annotations

import hashlib
import shutil
from contextlib import ExitStack
from pathlib import Path
from typing import Any, LiteralString

from graphsync import connect, epochs, sources, targets
from graphsync.cleanup.report import CleanupReport
from graphsync.conflicts import mark
from graphsync.connectors import cypher
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.graphs import state as graph_state
from graphsync.connectors.graphs.reading import Store
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.reconcile.audit import AUDIT_GRAPH_SUFFIX
from graphsync.spec import identifiers
from graphsync.spec.endpoints import FalkorDBTarget, Neo4jTarget
from graphsync.spec.files import FilesSource
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import PipelineSpec

# Target entities changed per statement.
CHUNK = 10_000
# The version mark a reset entity keeps: older than any change, as the sinks take a node written by hand.
RESET_VERSION = -1

# Cypher, the same text for Neo4j and FalkorDB; each returns how many entities it changed (at most $limit).
DELETE_TOMBSTONES: LiteralString = """
MATCH (t:GraphsyncTombstone) WHERE t.id STARTS WITH $prefix
WITH t LIMIT $limit
DELETE t
RETURN count(t)
"""
RESET_NODE_VERSIONS: LiteralString = """
MATCH (n{label}) WHERE n._graphsync_version IS NOT NULL AND n._graphsync_version <> $reset
WITH n LIMIT $limit
SET n._graphsync_version = $reset
RETURN count(n)
"""
RESET_RELATIONSHIP_VERSIONS: LiteralString = """
MATCH ()-[r{type}]->() WHERE r._graphsync_version IS NOT NULL AND r._graphsync_version <> $reset
WITH r LIMIT $limit
SET r._graphsync_version = $reset
RETURN count(r)
"""
_DELETE_RECORDS: LiteralString = """
MATCH (r{label}) WHERE r.pipeline = $pipeline
WITH r LIMIT $limit
DELETE r
RETURN count(r)
"""
# The records of the pipeline's reconciliations, sync runs, backfills and checkpoint resets.
DELETE_RECORDS = tuple(
    cypher.render(_DELETE_RECORDS, label=cypher.labels([label]))
    for label in ("GraphsyncReconciliation", "GraphsyncRun", "GraphsyncBackfill", "GraphsyncCheckpointReset")
)
DELETE_FILES_CHECKPOINT: LiteralString = "MATCH (c:GraphsyncCheckpoint {id: $id}) DELETE c RETURN count(c)"
COUNT_NODES: LiteralString = "MATCH (n) RETURN count(n)"


def tombstone_prefix(entity: str) -> str:
    """How the ids of an entity type's tombstones begin (`rows.entity_id`: the JSON of [entity, key])."""
    return f'["{identifiers.check(entity)}",'


def repeat(store: Store, query: LiteralString, params: dict[str, Any]) -> int:
    """Run a chunked statement until it changes nothing more; returns how many entities it changed."""
    total = 0
    while True:
        rows = store.write(query, {**params, "limit": CHUNK})
        changed = int(rows[0][0]) if rows else 0
        total += changed
        if changed < CHUNK:
            return total


def reset_versions(store: Store, mappings: Mappings, report: CleanupReport) -> None:
    """Delete the tombstones of the pipeline's entity types, set its entities' versions to RESET_VERSION."""
    for entity in mappings.entity_names():
        report.tombstones += repeat(store, DELETE_TOMBSTONES, {"prefix": tombstone_prefix(entity)})
    for node in mappings.nodes:
        query = cypher.render(RESET_NODE_VERSIONS, label=cypher.labels([node.labels[0]]))
        report.versions_reset += repeat(store, query, {"reset": RESET_VERSION})
    for rel in mappings.relationships:
        query = cypher.render(RESET_RELATIONSHIP_VERSIONS, type=cypher.labels([rel.type]))
        report.versions_reset += repeat(store, query, {"reset": RESET_VERSION})


def _marked(spec: PipelineSpec, store: Store, report: CleanupReport) -> None:
    """The target graph's bookkeeping: a files pipeline's checkpoint, or the version marks of mapped entities."""
    if spec.source.files is not None:
        report.checkpoints += repeat(store, DELETE_FILES_CHECKPOINT, {"id": f"{spec.identity}:files"})
    else:
        reset_versions(store, spec.mapped, report)
        report.checkpoints += repeat(store, epochs.DELETE_SCHEME, {"pipeline": spec.identity})
        report.checkpoints += repeat(store, mark.DELETE, {"pipeline": spec.identity})


def neo4j_target(spec: PipelineSpec, report: CleanupReport) -> None:
    target = spec.neo4j
    with ExitStack() as stack:
        store = _neo4j(target, "target.neo4j", stack)
        _marked(spec, store, report)
        for query in DELETE_RECORDS:
            report.audit_runs += repeat(store, query, {"pipeline": spec.identity})
        if spec.source.neo4j is not None:
            # Neo4j to Neo4j keeps its checkpoints and dead letters here (connectors.graphs.state).
            for query in graph_state.DELETE_STATE:
                report.checkpoints += repeat(store, query, {"pipeline": spec.identity})


def falkordb_target(spec: PipelineSpec, report: CleanupReport) -> None:
    target = spec.falkordb
    with ExitStack() as stack:
        graph = _falkordb(target, "target.falkordb", stack)
        if graph is not None:
            _marked(spec, graph, report)
        if spec.source.graph is not None:
            build = _falkordb(_named(target, targets.BUILD_SUFFIX), "target.falkordb", stack)
            if build is not None:
                build.drop()
                report.graphs.append(build.name)
        audit = _falkordb(_named(target, AUDIT_GRAPH_SUFFIX), "target.falkordb", stack)
        if audit is not None:
            for query in DELETE_RECORDS:
                report.audit_runs += repeat(audit, query, {"pipeline": spec.identity})
            if audit.read(COUNT_NODES) == [[0]]:
                audit.drop()
                report.graphs.append(audit.name)


def graph_side(endpoint: Neo4jTarget | FalkorDBTarget, side: str, mappings: Mappings, report: CleanupReport) -> None:
    """A bidirectional pipeline's source graph, which its engine writes too."""
    with ExitStack() as stack:
        store: Store | None
        if isinstance(endpoint, FalkorDBTarget):
            store = _falkordb(endpoint, side, stack)
        else:
            store = _neo4j(endpoint, side, stack)
        if store is not None:
            reset_versions(store, mappings, report)


def _neo4j(endpoint: Neo4jTarget, side: str, stack: ExitStack) -> Neo4jReader:
    store = Neo4jReader(connect.neo4j_driver(endpoint, side), database=endpoint.database)
    stack.callback(store.close)
    return store


def _falkordb(endpoint: FalkorDBTarget, side: str, stack: ExitStack) -> Graph | None:
    """The graph, or None when it does not exist (a query would create it)."""
    graph = connect.falkordb_graph(endpoint, side)
    stack.callback(graph.close)
    return graph if graph.client.exists(endpoint.graph) else None


def _named(endpoint: FalkorDBTarget, suffix: str) -> FalkorDBTarget:
    return endpoint.model_copy(update={"graph": f"{endpoint.graph}{suffix}"})


# --- Files ------------------------------------------------------------------------------------------------


def mirror_of(files: FilesSource) -> Path | None:
    """Where a remote repository is mirrored (as `repository.Git` places it); None for a local one."""
    if files.git is None or files.git.url.startswith("/"):
        return None
    return sources.cache_dir() / hashlib.sha256(files.git.url.encode()).hexdigest()[:16]


def mirror(files: FilesSource, report: CleanupReport) -> None:
    path = mirror_of(files)
    if path is not None and path.exists():
        shutil.rmtree(path)
        report.cache.append(str(path))
