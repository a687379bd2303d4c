"""Removing what a pipeline created outside Kubernetes: the code behind `graphsync cleanup` and the cleanup Job.

A SyncPipeline with `deletionPolicy: cleanup` runs this when it is deleted. The rule:
what the engine created for its own bookkeeping goes; what it synced stays.

Removed, per kind of pipeline:
- PostgreSQL source: this pipeline's capture trigger on each mapped table
  (`graphsync_capture_<hash of the identity>`, calling this pipeline's schema's
  `pipeline_capture()`; also an older release's `graphsync_capture`); then the engine's
  schema (`source.postgres.schema`): its tables (outbox, entity status, subscriptions,
  dead letters, checkpoints, ledger, held conflicts) and functions, dropped by name, and
  the schema itself if that leaves it empty. The source's own tables and rows are never
  touched. A schema other pipelines still use (their rows or subscription in it, or
  capture triggers, theirs on the same tables included) keeps its tables: only this
  pipeline's rows go, and the other pipelines' triggers stay.
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
- Every kind, in the target: the pipeline's reconciliation, sync run and backfill records
  (`GraphsyncReconciliation`, `GraphsyncRun`, `GraphsyncBackfill`; for FalkorDB in `<graph>__graphsync_audit`,
  deleted once no pipeline's records are left in it).

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

from collections.abc import Callable
from urllib.parse import urlsplit

import neo4j
import psycopg
import redis

from graphsync import sources, stores
from graphsync.cleanup import keys, postgres, targets
from graphsync.cleanup.keys import key_pattern, key_prefix
from graphsync.cleanup.postgres import ENGINE_FUNCTIONS, ENGINE_TABLES, PIPELINE_TABLES, regclass
from graphsync.cleanup.report import CleanupError, CleanupReport
from graphsync.cleanup.targets import mirror_of, tombstone_prefix
from graphsync.conflicts.changes import reversed_mappings
from graphsync.spec.endpoints import FalkorDBTarget
from graphsync.spec.pipeline import Mode, PipelineSpec

__all__ = [
    "ENGINE_FUNCTIONS",
    "ENGINE_TABLES",
    "PIPELINE_TABLES",
    "CleanupError",
    "CleanupReport",
    "cleanup",
    "key_pattern",
    "key_prefix",
    "mirror_of",
    "regclass",
    "tombstone_prefix",
]


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
    report = CleanupReport(spec.identity)
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
        steps.append(("source.postgres", _address(source.postgres.url), lambda: postgres.postgres(spec, report)))
    if spec.transport is not None and spec.transport.redis_streams is not None:
        transport = spec.transport.redis_streams
        steps.append(
            ("transport.redisStreams", _address(transport.url), lambda: keys.transport(spec, report)),
        )
    # Neo4j to Neo4j keeps its state in the target graph, which the target's step cleans.
    state_server = stores.falkordb_server(spec)
    if source.graph is not None and state_server is not None:
        state = "source.falkordb" if source.falkordb is not None else "target.falkordb"
        steps.append((state, _address(state_server.url), lambda: keys.graph_state(spec, report)))
        if spec.mode is Mode.BIDIRECTIONAL:
            side = "source.falkordb" if source.falkordb is not None else "source.neo4j"
            graph = spec.graph_source
            where = _address(graph.url if isinstance(graph, FalkorDBTarget) else graph.uri)
            mappings = reversed_mappings(spec.mapped)
            steps.append((side, where, lambda: targets.graph_side(graph, side, mappings, report)))
    if spec.target.falkordb is not None:
        steps.append(("target.falkordb", _address(spec.falkordb.url), lambda: targets.falkordb_target(spec, report)))
    else:
        steps.append(("target.neo4j", _address(spec.neo4j.uri), lambda: targets.neo4j_target(spec, report)))
    if source.files is not None and mirror_of(source.files) is not None:
        steps.append(("files cache", str(sources.cache_dir()), lambda: targets.mirror(spec.files, report)))
    return steps


# --- Messages ---------------------------------------------------------------------------------------------


def _address(url: str) -> str:
    """A URL to name a server in a message: without any user or password in it."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
