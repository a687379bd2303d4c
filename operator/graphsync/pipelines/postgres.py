"""The PostgreSQL modes (continuous, snapshotThenStream, snapshot, incremental): claiming the version epoch,
choosing the mode's runner, and assembling it all again on new connections when PostgreSQL or Redis drops them.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack

from graphsync import adoption, capture, epochs, targets
from graphsync.change import SNAPSHOT_VERSION, version_now
from graphsync.connectors import outages
from graphsync.connectors.postgres import numbering
from graphsync.pipelines import assembly, incremental, snapshot, streaming
from graphsync.pipelines.assembly import Carry
from graphsync.runner.control import RunControl
from graphsync.runner.retry import Backoff, Interrupted
from graphsync.runner.stats import SOURCE, TARGET, RunStats
from graphsync.spec.pipeline import Mode, PipelineSpec

log = logging.getLogger(__name__)


def reconnecting(spec: PipelineSpec, control: RunControl) -> RunStats:
    """Run the PostgreSQL modes, assembled again on new connections whenever PostgreSQL or Redis drops them.

    A restart or failover of PostgreSQL closes every connection, and psycopg never reopens one: retrying
    on it would fail forever while the worker looks alive. The batch in flight was not checkpointed, so
    it is delivered again and converges. While no connection can be opened, the `connect` loop's word
    ages: past the stuck threshold the worker reports stuck and its liveness probe restarts it.
    """
    carry = Carry()
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
            stats.waiting(assembly.CONNECT)
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


def _assemble(spec: PipelineSpec, control: RunControl, carry: Carry) -> RunStats:
    capture.prepare_source(spec)
    adoption.adopt(spec)
    claim = _claiming(spec, control, carry)
    if claim is None:
        return carry.lost or carry.latest or RunStats()
    if not claim.resync or spec.mode is Mode.SNAPSHOT:
        return _mode(spec, control, carry, claim.epoch)
    # Renumbered (see epochs.Claim): the source is read again in full and swept before anything else.
    resync = snapshot.run(spec, control, carry, claim.epoch, version=SNAPSHOT_VERSION, sweep=True)
    if control.stop.is_set():
        return resync
    with ExitStack() as stack:
        epochs.resynced(targets.reader(spec, stack), spec.identity, claim.epoch)
    return _mode(spec, control, carry, claim.epoch).absorb(resync)


def _mode(spec: PipelineSpec, control: RunControl, carry: Carry, epoch: int) -> RunStats:
    if spec.mode is Mode.CONTINUOUS:
        return streaming.run(spec, control, carry, epoch)
    if spec.mode is Mode.SNAPSHOT_THEN_STREAM:
        read = snapshot.run(spec, control, carry, epoch, version=SNAPSHOT_VERSION, sweep=False)
        return streaming.run(spec, control, carry, epoch).absorb(read)
    if spec.mode is Mode.SNAPSHOT:
        return snapshot.run(spec, control, carry, epoch, version=version_now(), sweep=True)
    return incremental.run(spec, control, carry, epoch)


def _claiming(spec: PipelineSpec, control: RunControl, carry: Carry) -> epochs.Claim | None:
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
        wanted = numbering.scheme(assembly.pg(spec, stack), spec)
        return epochs.claim(targets.reader(spec, stack), spec.identity, wanted)
