"""The consumer side of the outbox: stream entries in, outbox settled and entries acknowledged after the sink."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg

from graphsync.change import Change, Operation
from graphsync.connectors.postgres.outbox import Outbox, settle
from graphsync.connectors.redis import streams
from graphsync.runner.contracts import Batch, Rejection


class OutboxStreamSource:
    """A `Source` reading outbox events from Redis Streams as one member of a consumer group."""

    def __init__(
        self,
        reader: streams.GroupReader,
        conn: psycopg.Connection[Any],
        outbox: Outbox,
        *,
        block_ms: int = 500,
    ) -> None:
        self._reader = reader
        self._conn = conn
        self._outbox = outbox
        self._block_ms = block_ms

    def prepare(self) -> None:
        self._reader.ensure_groups()

    def read(self, limit: int) -> Batch:
        deliveries = self._reader.read(limit, self._block_ms)
        changes: list[Change] = []
        rejected: list[Rejection] = []
        for delivery in deliveries:
            try:
                changes.append(streams.decode(delivery.fields))
            except ValueError as exc:
                raw = Change(entity="(undecodable)", key=delivery.entry_id, op=Operation.UPSERT, version=0)
                rejected.append(Rejection(change=_with_fields(raw, delivery), reason=str(exc)))
        return Batch(changes=changes, token=deliveries or None, rejected=rejected)

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        failed_ids = {id(r.change) for r in failed}
        applied = [c for c in batch.changes if id(c) not in failed_ids]
        settle(self._conn, self._outbox, applied, [(r.change, r.reason) for r in failed])
        if batch.token:
            self._reader.ack(batch.token)

    def close(self) -> None:
        self._conn.close()


def _with_fields(change: Change, delivery: streams.Delivery) -> Change:
    return Change(
        entity=change.entity,
        key=change.key,
        op=change.op,
        version=change.version,
        data=dict(delivery.fields),
        origin=f"{delivery.stream}/{delivery.entry_id}",
    )
