"""Running a pipeline spec: the code behind `graphsync run` and the worker pods.

Each mode assembles connectors and hands them to the same `Runner`:
- continuous: capture (triggers or the application's `publish`) -> relay -> Redis Streams -> consumer -> target;
- incremental: a watermark scan of each table;
- snapshot: a chunked, resumable read of every table, then a sweep of target entities it did not see;
- snapshotThenStream: capture starts first, then a snapshot at the lowest version, then the stream,
  so nothing is lost (capture covers everything after the snapshot began) or doubled (versions decide).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from contextlib import ExitStack
from functools import partial
from typing import Any

import psycopg

from graphsync import (
    adoption,
    capture,
    connect,
    epochs,
    filesync,
    graphmodes,
    history,
    relaying,
    resets,
    retention,
    shapes,
    targets,
    twoway,
)
from graphsync.backfill import Backfills
from graphsync.change import SNAPSHOT_VERSION, version_now
from graphsync.connectors import outages
from graphsync.connectors.footprint import footprint
from graphsync.connectors.postgres import numbering
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.consumer import OutboxStreamSource
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.postgres.logical.source import LogicalSource
from graphsync.connectors.postgres.logical.stream import Stream
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.tables import SnapshotSource, tables_of
from graphsync.connectors.postgres.watermark import WatermarkSource
from graphsync.connectors.redis import streams
from graphsync.pipeline.contracts import Source
from graphsync.pipeline.control import RunControl
from graphsync.pipeline.retry import Backoff, Interrupted
from graphsync.pipeline.runner import Runner, RunOptions
from graphsync.pipeline.stats import SOURCE, TARGET, RunStats
from graphsync.reconcile.pipeline import audit_store
from graphsync.spec.backfill import Backfill
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.pipeline import Mode, PipelineSpec

log = logging.getLogger(__name__)
POLL_SECONDS = 1.0
# Waiting to connect again after a lost connection.
CONNECT = "connect"


def consumer_name() -> str:
    """Unique per process; in Kubernetes the pod name (HOSTNAME), so a restarted pod resumes its own backlog."""
    return f"{history.host()}-{os.getpid()}"


def run(spec: PipelineSpec, control: RunControl) -> RunStats:
    # A worker's run keeps the engine's bookkeeping pruned; a one-off run to idle (a test, a catch-up) need not.
    ended = threading.Event()
    if not control.until_idle:
        retention.keep(spec, ended)
    try:
        if spec.checkpoint_resets:
            # Before anything is read: the position it reads from may be about to move.
            resets.apply_all(spec, control.stop, control.on_resets)
        return shapes.watched(spec, control, partial(_run_backfilling, spec))
    finally:
        ended.set()


def _run_backfilling(spec: PipelineSpec, control: RunControl, following: tuple[Backfill, ...]) -> RunStats:
    """One run, with the spec's backfills and those that follow schema changes beside it."""
    declared = (*spec.backfills, *following)
    if following:
        # A logical capture's publication takes the new columns before the backfill reads a row.
        capture.prepare_source(spec)
    # The changes captured with the old columns are applied before a backfill follows the new ones.
    ready = shapes.barrier(spec) if following else None
    done = threading.Event()
    backfills = (
        Backfills(spec, done, control.on_backfills, declared=declared, ready=ready).start() if declared else None
    )
    try:
        if control.history:
            records = partial(audit_store, spec)
            stats = history.recorded(spec.identity, spec.mode.value, records, control, partial(_run, spec))
        else:
            stats = _run(spec, control)
        if backfills is not None:
            backfills.finish(control.stop)
        return stats
    finally:
        done.set()


def _run(spec: PipelineSpec, control: RunControl) -> RunStats:
    own = _own_engine(spec)
    if own is None:
        return _reconnecting(spec, control)
    adoption.adopt(spec)
    return own(spec, control)


class _Carry:
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


def _reconnecting(spec: PipelineSpec, control: RunControl) -> RunStats:
    """Run the PostgreSQL modes, assembled again on new connections whenever PostgreSQL or Redis drops them.

    A restart or failover of PostgreSQL closes every connection, and psycopg never reopens one: retrying
    on it would fail forever while the worker looks alive. The batch in flight was not checkpointed, so
    it is delivered again and converges. While no connection can be opened, the `connect` loop's word
    ages: past the stuck threshold the worker reports stuck and its liveness probe restarts it.
    """
    carry = _Carry()
    backoff = Backoff()
    attempt, read = 0, 0
    while True:
        try:
            return _assemble(spec, control, carry)
        except Exception as exc:
            if not outages.connection_lost(exc) or control.stop.is_set():
                raise
            stats = carry.lost = carry.lost or carry.latest or RunStats()
            if stats.read > read:
                # The last attempt made progress: this is a new outage, not the same one going on.
                attempt, read = 0, stats.read
            stats.waiting(CONNECT)
            stats.add_read(caught_up=False)
            carry.retrying(
                control, f"source: connection lost, reconnecting: {type(exc).__name__}: {exc}", component=SOURCE
            )
            log.warning("source: connection lost, reconnecting: %s", exc)
            try:
                backoff.wait(attempt, control.stop)
            except Interrupted:
                return stats
            attempt += 1


def _assemble(spec: PipelineSpec, control: RunControl, carry: _Carry) -> RunStats:
    capture.prepare_source(spec)
    adoption.adopt(spec)
    claim = _claiming(spec, control, carry)
    if claim is None:
        return carry.lost or carry.latest or RunStats()
    if not claim.resync or spec.mode is Mode.SNAPSHOT:
        return _mode(spec, control, carry, claim.epoch)
    # Renumbered (see epochs.Claim): the source is read again in full and swept before anything else.
    resync = _snapshot(spec, control, carry, claim.epoch, version=SNAPSHOT_VERSION, sweep=True)
    if control.stop.is_set():
        return resync
    with ExitStack() as stack:
        epochs.resynced(targets.reader(spec, stack), spec.identity, claim.epoch)
    return _mode(spec, control, carry, claim.epoch).absorb(resync)


def _mode(spec: PipelineSpec, control: RunControl, carry: _Carry, epoch: int) -> RunStats:
    if spec.mode is Mode.CONTINUOUS:
        return _stream(spec, control, carry, epoch)
    if spec.mode is Mode.SNAPSHOT_THEN_STREAM:
        snapshot = _snapshot(spec, control, carry, epoch, version=SNAPSHOT_VERSION, sweep=False)
        return _stream(spec, control, carry, epoch).absorb(snapshot)
    if spec.mode is Mode.SNAPSHOT:
        return _snapshot(spec, control, carry, epoch, version=version_now(), sweep=True)
    return _incremental(spec, control, carry, epoch)


def _claiming(spec: PipelineSpec, control: RunControl, carry: _Carry) -> epochs.Claim | None:
    """The epoch claim, waited out while the target is down (a worker assembled again during an outage
    says so and retries, as its runner would); None when stopped meanwhile."""
    backoff = Backoff()
    attempt = 0
    while True:
        try:
            return _claim(spec)
        except Exception as exc:
            if not targets.transient(spec, exc):
                raise
            if control.stop.is_set():
                # Stopped while the target is down: a clean stop, nothing was claimed or written.
                return None
            carry.retrying(control, f"target: retry {attempt + 1}: {type(exc).__name__}: {exc}", component=TARGET)
            log.warning("target: transient error, retrying: %s (reading the version epoch)", exc)
            try:
                backoff.wait(attempt, control.stop)
            except Interrupted:
                return None
            attempt += 1


def _claim(spec: PipelineSpec) -> epochs.Claim:
    """The version epoch of the pipeline's numbering on its target, a new one if the numbering changed."""
    with ExitStack() as stack:
        wanted = numbering.scheme(_pg(spec, stack), spec)
        return epochs.claim(targets.reader(spec, stack), spec.identity, wanted)


def _own_engine(spec: PipelineSpec) -> Callable[[PipelineSpec, RunControl], RunStats] | None:
    """Pipelines run by a module of their own: files, bidirectional, graph sources."""
    if spec.source.files is not None:
        return filesync.run
    if spec.mode is Mode.BIDIRECTIONAL:
        return twoway.run
    if spec.source.graph is not None:
        return graphmodes.run
    return None


def _pg(spec: PipelineSpec, stack: ExitStack, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection of its own per component: they run in different threads and transactions."""
    return stack.enter_context(connect.postgres(spec.postgres, autocommit=autocommit))


def _runner(
    spec: PipelineSpec,
    source: Source,
    sink: targets.GraphSink,
    control: RunControl,
    stack: ExitStack,
    *,
    carry: _Carry,
    epoch: int,
    writers: int = 1,
) -> Runner:
    dead_letters = PostgresDeadLetters(_pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_)
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


def _logical(spec: PipelineSpec, control: RunControl, carry: _Carry, epoch: int) -> RunStats:
    """Changes read from the pipeline's replication slot and applied; the slot moves once they are."""
    postgres = spec.postgres
    with ExitStack() as stack:
        slot = Slot(spec.identity, postgres.schema_)
        replication = stack.enter_context(connect.postgres(postgres, autocommit=True, replication=True))
        source = LogicalSource(
            _pg(spec, stack),
            Stream(replication, slot),
            slot,
            tables_of(spec.mapped),
            schema=postgres.schema_,
            pipeline=spec.identity,
        )
        stack.callback(source.flush)
        sink = targets.sink(spec, stack)
        runner = _runner(spec, source, sink, control, stack, carry=carry, epoch=epoch, writers=targets.writers(spec))
        limit = postgres.slot_backlog_limit_bytes
        source.on_backlog = lambda held: runner.stats.source_backlog(held, limit)

        def truncate(entities: list[str], below_version: int) -> None:
            log.info("TRUNCATE of %s: deleting their entities older than it", ", ".join(entities))
            runner.stats.add_batch(
                0, sink.sweep(below_version=epochs.stamp(epoch, below_version), entities=entities), []
            )

        source.on_truncate = truncate
        return runner.run(control.stop)


def _stream(spec: PipelineSpec, control: RunControl, carry: _Carry, epoch: int) -> RunStats:
    if spec.postgres.capture is CaptureMode.LOGICAL:
        return _logical(spec, control, carry, epoch)
    postgres, settings = spec.postgres, spec.redis_streams
    target, group = relaying.streams_of(spec), relaying.group_of(spec)
    with ExitStack() as stack:
        client = stack.enter_context(connect.redis_client(settings))
        relay = relaying.Relaying.of(spec, client)
        stack.callback(relay.close)
        reader = streams.GroupReader(
            client,
            target,
            group=group,
            consumer=consumer_name(),
            claim_idle_ms=int(settings.claim_idle_seconds * 1000),
        )
        source = OutboxStreamSource(reader, _pg(spec, stack), Outbox(postgres.schema_, pipeline=spec.identity))
        runner = _runner(spec, source, targets.sink(spec, stack), control, stack, carry=carry, epoch=epoch)
        if control.until_idle:
            return relaying.drain(relay, runner, control, spec.batch_size)
        if not control.consume:
            relaying.relay_loop(relay, control.stop, spec.batch_size, runner.stats)
            return runner.stats
        # The relay ends with this attempt, also when the runner ends by losing its connections (the next
        # attempt starts a relay of its own).
        relay_stop = threading.Event()
        relay_thread = threading.Thread(
            target=relaying.relay_loop, args=(relay, relay_stop, spec.batch_size, runner.stats), daemon=True
        )
        if control.relay:
            relay_thread.start()
        try:
            stats = runner.run(control.stop)
            control.stop.set()
        finally:
            relay_stop.set()
            if control.relay:
                relay_thread.join(timeout=30)
        return stats


def _snapshot(
    spec: PipelineSpec, control: RunControl, carry: _Carry, epoch: int, *, version: int, sweep: bool
) -> RunStats:
    with ExitStack() as stack:
        checkpoints = PostgresCheckpoints(_pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_)
        state = checkpoints.get("snapshot") or {}
        # A snapshot mode run reads everything again each time (its sweep needs it). A handover to a stream
        # reads once: after it completed the stream carries every change, so a restart reads only entity
        # types the mapping gained since (their own checkpoints are not done).
        # A snapshot of another epoch (before a renumbering) is not resumed: its version means nothing now.
        if "version" not in state or state.get("epoch", 0) != epoch or (sweep and state.get("completed")):
            for table in tables_of(spec.mapped):
                checkpoints.delete(f"snapshot:{table.entity}")
            state = {"version": version, "epoch": epoch, "completed": False}
            checkpoints.put("snapshot", state)
        source = SnapshotSource(_pg(spec, stack), spec.mapped, checkpoints, version=int(state["version"]))
        sink = targets.sink(spec, stack)
        finite = RunControl(control.stop, until_idle=True, on_batch=control.on_batch)
        stats = _runner(spec, source, sink, finite, stack, carry=carry, epoch=epoch).run(control.stop)
        if not _snapshot_done(checkpoints, spec):
            return stats
        if sweep:
            # What the snapshot read but the target refused is still in the source, only older in the target.
            refused = PostgresDeadLetters(_pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_)
            below = epochs.stamp(epoch, int(state["version"]))
            stats.add_batch(0, sink.sweep(below_version=below, keep=refused.refused_upserts()), [])
        checkpoints.put("snapshot", {**state, "completed": True})
        return stats


def _snapshot_done(checkpoints: PostgresCheckpoints, spec: PipelineSpec) -> bool:
    return all((checkpoints.get(f"snapshot:{table.entity}") or {}).get("done") for table in tables_of(spec.mapped))


def _incremental(spec: PipelineSpec, control: RunControl, carry: _Carry, epoch: int) -> RunStats:
    column = spec.postgres.watermark_column
    if column is None:
        raise ValueError("mode incremental needs source.postgres.watermarkColumn")
    with ExitStack() as stack:
        checkpoints = PostgresCheckpoints(_pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_)
        source = WatermarkSource(
            _pg(spec, stack),
            spec.mapped,
            checkpoints,
            column=column,
            overlap_seconds=spec.postgres.watermark_overlap_seconds,
        )
        return _runner(spec, source, targets.sink(spec, stack), control, stack, carry=carry, epoch=epoch).run(
            control.stop
        )
