"""Every position a pipeline keeps, read where it is kept: `graphsync checkpoints` and `kubectl graphsync
checkpoints` list them (read-only).

- PostgreSQL source: the engine schema's checkpoint rows (a snapshot's progress, watermarks), and the stream
  it reads: a logical replication slot (confirmed position, WAL held back) or, for triggers and the outbox,
  each Redis stream's consumer group (last delivered entry, pending, left to read);
- graph source: the checkpoints on its FalkorDB server or, with none, in its target graph;
- files source: the commit its target holds.
A bidirectional pipeline keeps no position: each pass compares both sides.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, LiteralString

import redis

from graphsync import connect, relaying, stores
from graphsync.connectors.graphs.reading import Store
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.redis import streams
from graphsync.reconcile.pipeline import existing, graph_store
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.pipeline import Mode, PipelineSpec

_FILES: LiteralString = "MATCH (c:GraphsyncCheckpoint {id: $id}) RETURN c.value"


@dataclass(frozen=True)
class Position:
    """One position: where it is kept, its name there, its value (JSON-able) and what it means in words."""

    store: str
    name: str
    value: Any
    detail: str = ""

    def summary(self) -> dict[str, Any]:
        return {"store": self.store, "name": self.name, "value": self.value, "detail": self.detail}


def positions(spec: PipelineSpec) -> list[Position]:
    if spec.mode is Mode.BIDIRECTIONAL:
        return []
    with ExitStack() as stack:
        if spec.source.files is not None:
            return _files(spec, stack)
        if spec.source.graph is not None:
            stored = stores.state_of(spec, stack).checkpoints.all()
            kind = "falkordb" if stores.falkordb_server(spec) else "graph"
            return [Position(kind, name, value) for name, value in sorted(stored.items())]
        return _postgres(spec, stack)


def _postgres(spec: PipelineSpec, stack: ExitStack) -> list[Position]:
    postgres = spec.postgres
    conn = stack.enter_context(connect.postgres(postgres, autocommit=True))
    stored = PostgresCheckpoints(conn, pipeline=spec.identity, schema=postgres.schema_).all()
    # The tables' shapes kept beside them are no position (see graphsync.shapes).
    found = [
        Position("postgres", name, value) for name, value in sorted(stored.items()) if not name.startswith("shape:")
    ]
    if spec.mode not in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM):
        return found
    if postgres.capture is CaptureMode.LOGICAL:
        slot = Slot(spec.identity, postgres.schema_)
        state = slot.state(conn)
        if state is not None:
            found.append(Position("slot", slot.name, state, slot_detail(state)))
        return found
    client = stack.enter_context(connect.redis_client(spec.redis_streams))
    group, named = relaying.group_of(spec), relaying.streams_of(spec)
    for name in named.names():
        info = _group(client, name, group)
        if info is not None:
            found.append(Position("stream", f"{name} {group}", info, group_detail(info)))
    return found


def _group(client: redis.Redis, stream: str, group: str) -> dict[str, Any] | None:
    info = streams.group_info(client, stream, group)
    if info is None:
        return None
    return {
        "lastDelivered": streams.text(info.get("last-delivered-id")),
        "pending": int(info.get("pending") or 0),
        "lag": None if info.get("lag") is None else int(info["lag"]),
    }


def _files(spec: PipelineSpec, stack: ExitStack) -> list[Position]:
    store = existing(graph_store(spec, stack))
    value = files_commit(store, f"{spec.identity}:files") if store is not None else None
    if value is None:
        return []
    return [Position("graph", "files", value, f"the commit the target holds: {value.get('commit')}")]


def files_commit(store: Store, checkpoint: str) -> dict[str, Any] | None:
    """A files pipeline's checkpoint: the commit its target holds and when it was synced."""
    rows = store.read(_FILES, {"id": checkpoint})
    if not rows or rows[0][0] is None:
        return None
    value: dict[str, Any] = json.loads(str(rows[0][0]))
    return value


def slot_detail(state: Mapping[str, Any]) -> str:
    """A slot's state in words (pure)."""
    held = state.get("heldBytes")
    active = "in use" if state.get("active") else "idle"
    return f"confirmed {state.get('confirmed')}, {active}" + (f", holds {held:,} bytes of WAL" if held else "")


def group_detail(info: Mapping[str, Any]) -> str:
    """A stream group's state in words (pure)."""
    lag = info.get("lag")
    left = "unknown" if lag is None else f"{lag:,}"
    return f"delivered up to {info.get('lastDelivered')}, {info.get('pending', 0):,} pending, {left} left to read"
