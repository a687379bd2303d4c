"""The relay of a streaming pipeline (outbox -> Redis Streams) as the run drives it: on a PostgreSQL
connection of its own, opened again after PostgreSQL dropped it, in a loop whose word ages while it fails."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import psycopg
import redis

from graphsync import connect
from graphsync.connectors import outages
from graphsync.connectors.postgres.relay import Relay
from graphsync.connectors.postgres.tables import tables_of
from graphsync.connectors.redis import streams
from graphsync.runner.control import RunControl
from graphsync.runner.loop import Runner
from graphsync.runner.retry import Backoff, Interrupted
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec

log = logging.getLogger(__name__)
# The relay's loop, as the run's stats tell it apart to find a stuck one.
RELAY = "relay"


def streams_of(spec: PipelineSpec) -> streams.Streams:
    """The partitioned Redis streams a trigger or outbox pipeline's changes travel on."""
    return streams.Streams(prefix=f"graphsync:{spec.identity}", partitions=spec.redis_streams.partitions)


def group_of(spec: PipelineSpec) -> str:
    """The consumer group its workers read the streams as."""
    return f"graphsync-{spec.identity}"


def drain(relay: Relaying, runner: Runner, control: RunControl, limit: int) -> RunStats:
    """Until-idle streaming: publish everything pending, consume everything published, until both are empty."""
    while not control.stop.is_set():
        published = relay.publish_all(limit)
        before = runner.stats.read
        runner.run(control.stop)
        if published == 0 and runner.stats.read == before:
            break
    return runner.stats


class Relaying:
    """The relay on a PostgreSQL connection of its own, opened again after PostgreSQL dropped it."""

    def __init__(self, spec: PipelineSpec, relay_on: Callable[[psycopg.Connection[Any]], Relay]) -> None:
        self._spec = spec
        self._relay_on = relay_on
        self._conn: psycopg.Connection[Any] | None = None
        self._relay: Relay | None = None

    @classmethod
    def of(cls, spec: PipelineSpec, client: redis.Redis) -> Relaying:
        """The pipeline's relay into its streams, read by its consumer group."""
        postgres, settings = spec.postgres, spec.redis_streams

        def relay_on(conn: psycopg.Connection[Any]) -> Relay:
            return Relay(
                conn,
                client,
                streams_of(spec),
                pipeline=spec.identity,
                schema=postgres.schema_,
                columns={table.entity: table.columns for table in tables_of(spec.mapped)},
                redeliver_after_seconds=settings.redeliver_after_seconds,
                max_stream_length=settings.max_stream_length,
                group=group_of(spec),
            )

        return cls(spec, relay_on)

    def publish_all(self, limit: int) -> int:
        """Publish everything pending; returns how many."""
        published = 0
        while (count := self.run_once(limit)) > 0:
            published += count
        return published

    def run_once(self, limit: int) -> int:
        if self._relay is None:
            self._conn = connect.postgres(self._spec.postgres, autocommit=False)
            self._relay = self._relay_on(self._conn)
        try:
            return self._relay.run_once(limit)
        except Exception as exc:
            if outages.connection_lost(exc):
                self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = self._relay = None


def relay_loop(relay: Relaying, stop: threading.Event, limit: int, stats: RunStats) -> None:
    """While the relay keeps failing its loop's word ages, so a relay that cannot heal makes the run stuck."""
    backoff = Backoff()
    attempt = 0
    stats.alive(RELAY)
    while not stop.is_set():
        try:
            published = relay.run_once(limit)
            attempt = 0
            stats.relay_recovered()
            stats.alive(RELAY)
        except Exception as exc:  # noqa: BLE001 - the relay survives outages of either side
            log.warning("relay: %s; retrying", exc)
            stats.relay_failed(str(exc))
            try:
                backoff.wait(attempt, stop)
            except Interrupted:
                return
            attempt += 1
            continue
        if published == 0:
            stop.wait(0.2)
    stats.ended(RELAY)
