"""The streaming modes' runner: changes from the pipeline's replication slot (capture logical), or from the
outbox relayed into Redis Streams and read by a consumer group (capture triggers or the application's publish).
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack

from graphsync import connect, relaying, targets
from graphsync.change import stamp
from graphsync.connectors.postgres.consumer import OutboxStreamSource
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.postgres.logical.source import LogicalSource
from graphsync.connectors.postgres.logical.stream import Stream
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.tables import tables_of
from graphsync.connectors.redis import streams
from graphsync.pipelines import assembly
from graphsync.pipelines.assembly import Carry
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.pipeline import PipelineSpec

log = logging.getLogger(__name__)


def _logical(spec: PipelineSpec, control: RunControl, carry: Carry, epoch: int) -> RunStats:
    """Changes read from the pipeline's replication slot and applied; the slot moves once they are."""
    postgres = spec.postgres
    with ExitStack() as stack:
        slot = Slot(spec.identity, postgres.schema_)
        replication = stack.enter_context(connect.postgres(postgres, autocommit=True, replication=True))
        source = LogicalSource(
            assembly.pg(spec, stack),
            Stream(replication, slot),
            slot,
            tables_of(spec.mapped),
            schema=postgres.schema_,
            pipeline=spec.identity,
        )
        stack.callback(source.flush)
        sink = targets.sink(spec, stack)
        runner = assembly.runner(
            spec, source, sink, control, stack, carry=carry, epoch=epoch, writers=targets.writers(spec)
        )
        limit = postgres.slot_backlog_limit_bytes
        source.on_backlog = lambda held: runner.stats.source_backlog(held, limit)

        def truncate(entities: list[str], below_version: int) -> None:
            log.info("TRUNCATE of %s: deleting their entities older than it", ", ".join(entities))
            runner.stats.add_batch(0, sink.sweep(below_version=stamp(epoch, below_version), entities=entities), [])

        source.on_truncate = truncate
        return runner.run(control.stop)


def run(spec: PipelineSpec, control: RunControl, carry: Carry, epoch: int) -> RunStats:
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
            consumer=assembly.consumer_name(),
            claim_idle_ms=int(settings.claim_idle_seconds * 1000),
        )
        source = OutboxStreamSource(reader, assembly.pg(spec, stack), Outbox(postgres.schema_, pipeline=spec.identity))
        runner = assembly.runner(spec, source, targets.sink(spec, stack), control, stack, carry=carry, epoch=epoch)
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
