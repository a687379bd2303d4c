"""Where a pipeline keeps its own state (checkpoints, dead letters, a bidirectional pipeline's ledger and held
conflicts), opened from its spec.

A graph pipeline keeps it on the FalkorDB server of one of its sides, or, with none (Neo4j to Neo4j), in its
target graph (`connectors.graphs.state`); a bidirectional pipeline with a PostgreSQL side in the engine's schema.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass

import redis

from graphsync import connect, targets
from graphsync.conflicts.held import HeldConflicts, Ledger
from graphsync.connectors.graphs.state import GraphCheckpoints, GraphDeadLetters
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.ledger import PostgresConflicts, PostgresLedger
from graphsync.connectors.redis.ledger import RedisConflicts, RedisLedger
from graphsync.connectors.redis.state import RedisCheckpoints, RedisDeadLetters
from graphsync.runner.contracts import Checkpoints
from graphsync.spec.endpoints import FalkorDBSource, FalkorDBTarget
from graphsync.spec.pipeline import PipelineSpec

StateDeadLetters = RedisDeadLetters | GraphDeadLetters


@dataclass(frozen=True)
class State:
    """Where a graph pipeline keeps its checkpoints and dead letters."""

    checkpoints: Checkpoints
    dead_letters: StateDeadLetters


def state_of(spec: PipelineSpec, stack: ExitStack) -> State:
    """The pipeline's state stores, their connections closed with `stack`: on a FalkorDB side's server when
    there is one (where pipelines before Neo4j-to-Neo4j kept it), else in the target graph."""
    if falkordb_server(spec) is not None:
        client = state_client(spec)
        stack.callback(client.close)
        return State(RedisCheckpoints(client, pipeline=spec.identity), RedisDeadLetters(client, pipeline=spec.identity))
    store = targets.reader(spec, stack)
    return State(GraphCheckpoints(store, pipeline=spec.identity), GraphDeadLetters(store, pipeline=spec.identity))


def falkordb_server(spec: PipelineSpec) -> FalkorDBSource | FalkorDBTarget | None:
    """The FalkorDB side whose server keeps a graph pipeline's state; None: none (the state is in the target)."""
    return spec.source.falkordb or spec.target.falkordb


def state_client(spec: PipelineSpec) -> redis.Redis:
    """The FalkorDB server that keeps the pipeline's checkpoints and dead letters."""
    if spec.source.falkordb is not None:
        return connect.falkordb_graph(spec.source.falkordb, "source.falkordb").client
    if spec.target.falkordb is not None:
        return connect.falkordb_graph(spec.target.falkordb, "target.falkordb").client
    raise ValueError("graph pipelines keep their state on FalkorDB: the source or the target must be FalkorDB")


def bidirectional_state(spec: PipelineSpec, stack: ExitStack) -> tuple[Ledger, HeldConflicts]:
    """Where a bidirectional pipeline keeps its ledger and held conflicts: the engine's schema in PostgreSQL,
    or the FalkorDB server of a graph pipeline."""
    if spec.source.postgres is not None:
        conn = stack.enter_context(connect.postgres(spec.postgres, autocommit=True))
        pg_schema.migrate(conn, spec.postgres.schema_)
        schema = spec.postgres.schema_
        return PostgresLedger(conn, pipeline=spec.identity, schema=schema), PostgresConflicts(
            conn, pipeline=spec.identity, schema=schema
        )
    client = state_client(spec)
    stack.callback(client.close)
    return RedisLedger(client, pipeline=spec.identity), RedisConflicts(client, pipeline=spec.identity)
