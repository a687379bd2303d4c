"""How many records wait in a pipeline's dead-letter store: for metrics and alerts on poison records.

The store is the one the run writes to (and `graphsync dlq list` reads): the source PostgreSQL
for table pipelines, the FalkorDB state server for graph pipelines. Files and bidirectional
pipelines keep their failures elsewhere (the failed files, the conflicts), so they have no count.
"""

from __future__ import annotations

from contextlib import ExitStack

from graphsync import connect, stores
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.runner.contracts import DeadLetter
from graphsync.spec.pipeline import Mode, PipelineSpec


def open_count(spec: PipelineSpec) -> int | None:
    """Records not replayed yet; None for a pipeline without a dead-letter store. One connection per call."""
    if spec.source.files is not None or spec.mode is Mode.BIDIRECTIONAL:
        return None
    if spec.source.graph is not None:
        with ExitStack() as stack:
            return stores.state_of(spec, stack).dead_letters.count()
    with connect.postgres(spec.postgres, autocommit=True) as conn:
        return PostgresDeadLetters(conn, pipeline=spec.identity, schema=spec.postgres.schema_).count()


def listed(spec: PipelineSpec, *, include_replayed: bool, limit: int) -> list[DeadLetter]:
    """The records `dlq list` shows, from the store the run writes to (a worker's /deadletters reads it so too)."""
    if spec.source.graph is not None:
        with ExitStack() as stack:
            return stores.state_of(spec, stack).dead_letters.list(include_replayed=include_replayed, limit=limit)
    with connect.postgres(spec.postgres, autocommit=True) as conn:
        store = PostgresDeadLetters(conn, pipeline=spec.identity, schema=spec.postgres.schema_)
        return store.list(include_replayed=include_replayed, limit=limit)
