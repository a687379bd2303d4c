"""What every PostgreSQL mode assembles the same way: its connections, its runner, and the counts an attempt
that lost its connections hands to the next one."""

from __future__ import annotations

import os
from contextlib import ExitStack
from typing import Any

import psycopg

from graphsync import connect, history, targets
from graphsync.connectors import outages
from graphsync.connectors.footprint import footprint
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.runner.contracts import Source
from graphsync.runner.control import RunControl
from graphsync.runner.loop import Runner, RunOptions
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import Mode, PipelineSpec

POLL_SECONDS = 1.0
# Waiting to connect again after a lost connection.
CONNECT = "connect"


def consumer_name() -> str:
    """Unique per process; in Kubernetes the pod name (HOSTNAME), so a restarted pod resumes its own backlog."""
    return f"{history.host()}-{os.getpid()}"


class Carry:
    """The counts of an attempt that lost its connections, handed to the next attempt's first runner, so a
    run rebuilt on new connections goes on counting (and its watcher on reading) where the lost one was."""

    def __init__(self) -> None:
        # The stats of the newest runner, and those a lost attempt left for the next one to go on with.
        self.latest: RunStats | None = None
        self.lost: RunStats | None = None

    def retrying(self, control: RunControl, error: str, *, component: str) -> RunStats:
        """The stats a failed attempt hands on, with its retry counted and shown to the run's watcher."""
        stats = self.lost = self.lost or self.latest or RunStats()
        stats.add_retry(error, component=component)
        if control.on_batch:
            control.on_batch(stats)
        return stats

    def take(self) -> RunStats | None:
        stats, self.lost = self.lost, None
        return stats


def pg(spec: PipelineSpec, stack: ExitStack, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection of its own per component: they run in different threads and transactions."""
    return stack.enter_context(connect.postgres(spec.postgres, autocommit=autocommit))


def runner(
    spec: PipelineSpec,
    source: Source,
    sink: targets.GraphSink,
    control: RunControl,
    stack: ExitStack,
    *,
    carry: Carry,
    epoch: int,
    writers: int = 1,
) -> Runner:
    dead_letters = PostgresDeadLetters(pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_)
    # A polled source (incremental) waits between empty reads; a stream's read blocks by itself.
    idle_wait = POLL_SECONDS if spec.mode is Mode.INCREMENTAL else 0.0
    options = RunOptions(
        batch_size=spec.batch_size,
        until_idle=control.until_idle,
        idle_wait=idle_wait,
        probe_seconds=control.probe_seconds,
        connection_lost=outages.connection_lost,
        epoch=epoch,
        writers=writers,
        footprint=footprint,
    )
    runner = Runner(source, sink, dead_letters, options, on_batch=control.on_batch, stats=carry.take())
    # Connected again: the run's own loops say whether it is alive from here on.
    runner.stats.ended(CONNECT)
    carry.latest = runner.stats
    return runner
