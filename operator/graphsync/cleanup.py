"""Removing what a pipeline created outside Kubernetes: the code behind `graphsync cleanup` and the cleanup Job.

A SyncPipeline with `deletionPolicy: cleanup` runs this when it is deleted. The rule:
what the engine created for its own bookkeeping goes; what it synced stays.

Removed, per kind of pipeline:
- PostgreSQL source: the capture trigger (`graphsync_capture`) on each mapped table, and
  only where it calls this pipeline's schema's `capture()`; then the engine's schema
  (`source.postgres.schema`): its tables (outbox, entity status, dead letters,
  checkpoints, ledger, held conflicts) and functions, dropped by name, and the schema
  itself if that leaves it empty. The source's own tables and rows are never touched.
  A schema other pipelines still use (their rows in it, or capture triggers on
  tables this pipeline does not map) keeps its tables: only this pipeline's rows go.
  An application that publishes into the outbox itself (`capture: outbox`) must stop
  doing so first: its table is gone.
- Redis Streams transport: every key under `graphsync:<pipeline>:` (the partition
  streams, and with them the consumer group `graphsync-<pipeline>`).
- Graph source (Neo4j or FalkorDB): the state on its FalkorDB server, every key
  under `graphsync:<pipeline>:` (checkpoints, dead letters, a bidirectional
  pipeline's ledger and held conflicts); with a FalkorDB target, a rebuild's
  leftover graph `<graph>__graphsync_build`.
- Files source: the checkpoint node (`GraphsyncCheckpoint` `<pipeline>:files`) in the
  target, and the local mirror of a remote Git repository (a cache, shared by the
  pipelines of one URL on one machine; in Kubernetes it lives in the pod's emptyDir).
- Every kind, in the target: the pipeline's reconciliation records
  (`GraphsyncReconciliation`; for FalkorDB in `<graph>__graphsync_audit`, deleted once
  no pipeline's records are left in it).

Kept: the data in the target graph (nodes, labels, properties, relationships; users
delete it themselves) and the target's constraints and indexes. What identifies the
data stays with it: relationships' `_graphsync_key`, and a files pipeline's
`GraphsyncDocument` nodes with the `_graphsync_refs` counts they account for (they
say which file contributed which entity; without them the counts would be wrong).

Reset rather than removed: the version marks on synced entities. The sink applies
a change only if its version is newer than the entity's, and a PostgreSQL
pipeline's versions are outbox ids, which start again at 1 once the schema is
dropped: a pipeline created again over the kept data would take every change for
stale. So the pipeline's tombstones (`GraphsyncTombstone` of its entity types) are
deleted and `_graphsync_version` of its labels and relationship types is set to -1,
the engine's "exists, older than any change" (what it assumes of a node written by
hand), on every graph side the engine writes (the target; a bidirectional
pipeline's source graph too). Pipelines that share entity types in one target share
these marks: cleaning one up resets them for the other.

Every step tolerates what is already gone, so a second run removes nothing and
succeeds. A step that fails (a database out of reach, a permission) does not stop
the others; `CleanupError` then names each failed side and carries what was done.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import urlsplit

import neo4j
import psycopg
import redis
from psycopg import sql

from graphsync import connect, filesync, graphmodes
from graphsync.conflicts.changes import reversed_mappings
from graphsync.connectors import cypher
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.tables import tables_of
from graphsync.reconcile.audit import AUDIT_GRAPH_SUFFIX, Store
from graphsync.spec import identifiers
from graphsync.spec.endpoints import FalkorDBTarget, Neo4jTarget
from graphsync.spec.files import FilesSource
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import Mode, PipelineSpec

# What `schema.MIGRATION` creates (a unit test holds the two together).
ENGINE_TABLES = ("outbox", "entity_status", "dead_letter", "checkpoint", "ledger", "conflict")
ENGINE_FUNCTIONS = ("capture", "entity_key")
# The tables whose rows say which pipeline they belong to.
PIPELINE_TABLES = ("dead_letter", "checkpoint", "ledger", "conflict")
TRIGGER = "graphsync_capture"
# Never dropped, even when nothing is left in it: the database's default schema.
DEFAULT_SCHEMA = "public"
# Target entities changed per statement.
CHUNK = 10_000
# The version mark a reset entity keeps: older than any change, as the sinks take a node written by hand.
RESET_VERSION = -1

_OUR_TRIGGER = """
SELECT 1 FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE t.tgrelid = to_regclass(%(table)s) AND t.tgname = %(trigger)s
  AND n.nspname = %(schema)s AND p.proname = 'capture'
"""
# Tables whose triggers still call the schema's capture function.
_CAPTURED = """
SELECT DISTINCT t.tgrelid::regclass::text AS captured FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.proname = 'capture'
ORDER BY captured
"""
_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%(names)s)
"""
_FUNCTIONS = """
SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.proname = ANY(%(names)s)
"""
_SCHEMA_EXISTS = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('graphsync.migrate'))"
_OTHER_PIPELINES = "SELECT DISTINCT pipeline FROM {schema}.{table} WHERE pipeline <> %s"
_FORGET = "DELETE FROM {schema}.{table} WHERE pipeline = %s"
_DROP_TABLES = "DROP TABLE IF EXISTS {tables}"
_DROP_FUNCTIONS = "DROP FUNCTION IF EXISTS {schema}.capture(), {schema}.entity_key(jsonb, text[])"
_DROP_SCHEMA = "DROP SCHEMA {schema}"

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
DELETE_AUDIT_RUNS: LiteralString = """
MATCH (r:GraphsyncReconciliation) WHERE r.pipeline = $pipeline
WITH r LIMIT $limit
DELETE r
RETURN count(r)
"""
DELETE_FILES_CHECKPOINT: LiteralString = "MATCH (c:GraphsyncCheckpoint {id: $id}) DELETE c RETURN count(c)"
COUNT_NODES: LiteralString = "MATCH (n) RETURN count(n)"


@dataclass
class CleanupReport:
    """What one cleanup removed (a second run's report is empty), what it kept and why, and what failed."""

    pipeline: str
    # Tables whose capture trigger was dropped.
    triggers: list[str] = field(default_factory=list)
    # The engine's schema, dropped with everything in it.
    schema: str | None = None
    # Engine tables and functions dropped (by name: the schema may hold other objects).
    schema_objects: list[str] = field(default_factory=list)
    # This pipeline's rows deleted from a schema other pipelines still use.
    schema_rows: int = 0
    streams: list[str] = field(default_factory=list)
    # Consumer groups, as `stream group`, deleted with their streams.
    groups: list[str] = field(default_factory=list)
    # Other keys (state of graph pipelines).
    keys: list[str] = field(default_factory=list)
    # FalkorDB graphs deleted (a rebuild's leftover, an emptied audit graph).
    graphs: list[str] = field(default_factory=list)
    tombstones: int = 0
    versions_reset: int = 0
    audit_runs: int = 0
    checkpoints: int = 0
    # Local mirrors of Git repositories.
    cache: list[str] = field(default_factory=list)
    # What was left in place on purpose, and why.
    kept: list[str] = field(default_factory=list)
    # One line per side that failed, naming it.
    errors: list[str] = field(default_factory=list)

    @property
    def removed(self) -> bool:
        """Whether this run removed (or reset) anything at all."""
        return any(
            (
                self.triggers,
                self.schema,
                self.schema_objects,
                self.schema_rows,
                self.streams,
                self.keys,
                self.graphs,
                self.tombstones,
                self.versions_reset,
                self.audit_runs,
                self.checkpoints,
                self.cache,
            )
        )

    def summary(self) -> dict[str, Any]:
        return {
            "pipeline": self.pipeline,
            "removed": self.removed,
            "triggers": self.triggers,
            "schema": self.schema,
            "schemaObjects": self.schema_objects,
            "schemaRows": self.schema_rows,
            "streams": self.streams,
            "groups": self.groups,
            "keys": self.keys,
            "graphs": self.graphs,
            "tombstones": self.tombstones,
            "versionsReset": self.versions_reset,
            "auditRuns": self.audit_runs,
            "checkpoints": self.checkpoints,
            "cache": self.cache,
            "kept": self.kept,
            "errors": self.errors,
        }


class CleanupError(RuntimeError):
    """Some side could not be cleaned up (each named in the message); `report` holds what was done."""

    def __init__(self, report: CleanupReport) -> None:
        super().__init__("; ".join(report.errors))
        self.report = report


# What a side out of reach or refusing raises; anything else is a bug and propagates.
_FAILURES = (
    psycopg.Error,
    redis.RedisError,
    neo4j.exceptions.Neo4jError,
    neo4j.exceptions.DriverError,
    OSError,
    # A password's environment variable that is not set.
    ValueError,
)


def cleanup(spec: PipelineSpec) -> CleanupReport:
    """Remove the pipeline's machinery (see the module doc); raises CleanupError naming each side that failed."""
    report = CleanupReport(spec.name)
    for side, where, step in _steps(spec, report):
        try:
            step()
        except _FAILURES as exc:
            report.errors.append(f"{side} ({where}): {type(exc).__name__}: {_one_line(exc)}")
    if report.errors:
        raise CleanupError(report)
    return report


Step = tuple[str, str, Callable[[], None]]


def _steps(spec: PipelineSpec, report: CleanupReport) -> list[Step]:
    """(side, address, step) in order: capture stops first, then the transport, the state, the target."""
    steps: list[Step] = []
    source = spec.source
    if source.postgres is not None:
        steps.append(("source.postgres", _address(source.postgres.url), lambda: _postgres(spec, report)))
    if spec.transport is not None and spec.transport.redis_streams is not None:
        transport = spec.transport.redis_streams
        steps.append(
            ("transport.redisStreams", _address(transport.url), lambda: _transport(spec, report)),
        )
    if source.graph is not None:
        state, endpoint = (
            ("source.falkordb", source.falkordb) if source.falkordb is not None else ("target.falkordb", spec.falkordb)
        )
        steps.append((state, _address(endpoint.url), lambda: _graph_state(spec, report)))
        if spec.mode is Mode.BIDIRECTIONAL:
            side = "source.falkordb" if source.falkordb is not None else "source.neo4j"
            graph = spec.graph_source
            where = _address(graph.url if isinstance(graph, FalkorDBTarget) else graph.uri)
            mappings = reversed_mappings(spec.mapped)
            steps.append((side, where, lambda: _graph_side(graph, side, mappings, report)))
    if spec.target.falkordb is not None:
        steps.append(("target.falkordb", _address(spec.falkordb.url), lambda: _falkordb_target(spec, report)))
    else:
        steps.append(("target.neo4j", _address(spec.neo4j.uri), lambda: _neo4j_target(spec, report)))
    if source.files is not None and mirror_of(source.files) is not None:
        steps.append(("files cache", str(filesync.cache_dir()), lambda: _mirror(spec.files, report)))
    return steps


# --- PostgreSQL ---------------------------------------------------------------------------------------------


def _postgres(spec: PipelineSpec, report: CleanupReport) -> None:
    source = spec.postgres
    schema = identifiers.check(source.schema_)
    with connect.postgres(source, autocommit=True) as conn, conn.transaction():
        # The migration's lock: a worker starting meanwhile migrates before or after, never halfway.
        conn.execute(_LOCK)
        outbox = Outbox(schema)
        for table in tables_of(spec.mapped):
            found = conn.execute(_OUR_TRIGGER, {"table": regclass(table.name), "trigger": TRIGGER, "schema": schema})
            if found.fetchone() is not None:
                outbox.remove_capture(conn, table=table.name)
                report.triggers.append(table.name)
        if conn.execute(_SCHEMA_EXISTS, (schema,)).fetchone() is None:
            return
        tables = [str(row[0]) for row in conn.execute(_TABLES, {"schema": schema, "names": list(ENGINE_TABLES)})]
        functions = [
            str(row[0]) for row in conn.execute(_FUNCTIONS, {"schema": schema, "names": list(ENGINE_FUNCTIONS)})
        ]
        if not tables and not functions:
            return
        users = _other_users(conn, schema, spec.name, tables)
        if users:
            report.schema_rows += _forget(conn, schema, spec.name, tables)
            report.kept.append(f"schema {schema}: still used by {users}")
            return
        _drop_engine_objects(conn, schema, tables, functions, report)


def regclass(table: str) -> str:
    """A table's name as `to_regclass` reads it, quoted as the engine quotes it when it installs a trigger."""
    identifiers.qualified(table)
    return ".".join(f'"{part}"' for part in table.split("."))


def _other_users(conn: psycopg.Connection[Any], schema: str, pipeline: str, tables: list[str]) -> str:
    """Who else uses the schema, as text ("" for nobody): other pipelines' rows, other tables' capture triggers."""
    others: set[str] = set()
    for table in PIPELINE_TABLES:
        if table in tables:
            query = sql.SQL(_OTHER_PIPELINES).format(schema=sql.Identifier(schema), table=sql.Identifier(table))
            others.update(str(row[0]) for row in conn.execute(query, (pipeline,)))
    captured = [str(row[0]) for row in conn.execute(_CAPTURED, {"schema": schema})]
    parts = []
    if others:
        parts.append(f"pipeline(s) {', '.join(sorted(others))}")
    if captured:
        parts.append(f"capture triggers on {', '.join(captured)} (tables this pipeline does not map)")
    return " and ".join(parts)


def _forget(conn: psycopg.Connection[Any], schema: str, pipeline: str, tables: list[str]) -> int:
    """Delete this pipeline's rows from a shared schema; returns how many."""
    deleted = 0
    for table in PIPELINE_TABLES:
        if table in tables:
            query = sql.SQL(_FORGET).format(schema=sql.Identifier(schema), table=sql.Identifier(table))
            deleted += conn.execute(query, (pipeline,)).rowcount
    return deleted


def _drop_engine_objects(
    conn: psycopg.Connection[Any], schema: str, tables: list[str], functions: list[str], report: CleanupReport
) -> None:
    """Drop the engine's tables and functions by name (never CASCADE), then the schema if that emptied it."""
    name = sql.Identifier(schema)
    if tables:
        ordered = [table for table in ENGINE_TABLES if table in tables]
        listed = sql.SQL(", ").join(sql.Identifier(schema, table) for table in ordered)
        conn.execute(sql.SQL(_DROP_TABLES).format(tables=listed))
    if functions:
        conn.execute(sql.SQL(_DROP_FUNCTIONS).format(schema=name))
    dropped = [f"{schema}.{t}" for t in ENGINE_TABLES if t in tables]
    dropped += [f"{schema}.{f}()" for f in ENGINE_FUNCTIONS if f in functions]
    if schema == DEFAULT_SCHEMA:
        report.schema_objects += dropped
        report.kept.append(f"schema {schema}: the database's default schema")
        return
    try:
        with conn.transaction():
            conn.execute(sql.SQL(_DROP_SCHEMA).format(schema=name))
    except psycopg.errors.DependentObjectsStillExist:
        report.schema_objects += dropped
        report.kept.append(f"schema {schema}: it holds objects besides the engine's")
        return
    report.schema = schema
    report.schema_objects += dropped


# --- Redis: the transport, a graph pipeline's state ---------------------------------------------------------


def key_prefix(pipeline: str) -> str:
    """Every Redis key of a pipeline starts with this; the colon ends the name, so `shop` never matches `shop2`."""
    return f"graphsync:{pipeline}:"


def key_pattern(pipeline: str) -> str:
    """The SCAN pattern of a pipeline's keys: its prefix, glob characters escaped, then anything."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in key_prefix(pipeline)) + "*"


def remove_keys(client: redis.Redis, pipeline: str, report: CleanupReport) -> None:
    """Delete every key under the pipeline's prefix, found by SCAN (never KEYS); streams take their groups along."""
    prefix = key_prefix(pipeline)
    found = sorted({str(key) for key in client.scan_iter(match=key_pattern(pipeline), count=1000)})
    keys = [key for key in found if key.startswith(prefix)]
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.type(key)
        for key, kind in zip(chunk, pipe.execute(), strict=True):
            if kind == "stream":
                report.streams.append(key)
                report.groups += [f"{key} {group['name']}" for group in client.xinfo_groups(key)]
            elif kind != "none":
                report.keys.append(key)
        client.delete(*chunk)


def _transport(spec: PipelineSpec, report: CleanupReport) -> None:
    with ExitStack() as stack:
        client = connect.redis_client(spec.redis_streams)
        stack.callback(client.close)
        remove_keys(client, spec.name, report)


def _graph_state(spec: PipelineSpec, report: CleanupReport) -> None:
    with ExitStack() as stack:
        client = graphmodes.state_client(spec)
        stack.callback(client.close)
        remove_keys(client, spec.name, report)


# --- The graphs -------------------------------------------------------------------------------------------


def tombstone_prefix(entity: str) -> str:
    """How the ids of an entity type's tombstones begin (`rows.entity_id`: the JSON of [entity, key])."""
    return f'["{identifiers.check(entity)}",'


def _repeat(store: Store, query: LiteralString, params: dict[str, Any]) -> int:
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
        report.tombstones += _repeat(store, DELETE_TOMBSTONES, {"prefix": tombstone_prefix(entity)})
    for node in mappings.nodes:
        query = cypher.render(RESET_NODE_VERSIONS, label=cypher.labels([node.labels[0]]))
        report.versions_reset += _repeat(store, query, {"reset": RESET_VERSION})
    for rel in mappings.relationships:
        query = cypher.render(RESET_RELATIONSHIP_VERSIONS, type=cypher.labels([rel.type]))
        report.versions_reset += _repeat(store, query, {"reset": RESET_VERSION})


def _marked(spec: PipelineSpec, store: Store, report: CleanupReport) -> None:
    """The target graph's bookkeeping: a files pipeline's checkpoint, or the version marks of mapped entities."""
    if spec.source.files is not None:
        report.checkpoints += _repeat(store, DELETE_FILES_CHECKPOINT, {"id": f"{spec.name}:files"})
    else:
        reset_versions(store, spec.mapped, report)


def _neo4j_target(spec: PipelineSpec, report: CleanupReport) -> None:
    target = spec.neo4j
    with ExitStack() as stack:
        store = _neo4j(target, "target.neo4j", stack)
        _marked(spec, store, report)
        report.audit_runs += _repeat(store, DELETE_AUDIT_RUNS, {"pipeline": spec.name})


def _falkordb_target(spec: PipelineSpec, report: CleanupReport) -> None:
    target = spec.falkordb
    with ExitStack() as stack:
        graph = _falkordb(target, "target.falkordb", stack)
        if graph is not None:
            _marked(spec, graph, report)
        if spec.source.graph is not None:
            build = _falkordb(_named(target, graphmodes.BUILD_SUFFIX), "target.falkordb", stack)
            if build is not None:
                build.drop()
                report.graphs.append(build.name)
        audit = _falkordb(_named(target, AUDIT_GRAPH_SUFFIX), "target.falkordb", stack)
        if audit is not None:
            report.audit_runs += _repeat(audit, DELETE_AUDIT_RUNS, {"pipeline": spec.name})
            if audit.read(COUNT_NODES) == [[0]]:
                audit.drop()
                report.graphs.append(audit.name)


def _graph_side(endpoint: Neo4jTarget | FalkorDBTarget, side: str, mappings: Mappings, report: CleanupReport) -> None:
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
    return filesync.cache_dir() / hashlib.sha256(files.git.url.encode()).hexdigest()[:16]


def _mirror(files: FilesSource, report: CleanupReport) -> None:
    path = mirror_of(files)
    if path is not None and path.exists():
        shutil.rmtree(path)
        report.cache.append(str(path))


# --- Messages ---------------------------------------------------------------------------------------------


def _address(url: str) -> str:
    """A URL to name a server in a message: without any user or password in it."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
