"""The snapshot runner: a chunked, resumable read of every mapped table at one version; in mode snapshot (and a
resync after a renumbering) followed by a sweep of the target entities it did not see.
"""

from __future__ import annotations

from contextlib import ExitStack

from graphsync import targets
from graphsync.change import stamp
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.connectors.postgres.tables import SnapshotSource, tables_of
from graphsync.pipelines import assembly
from graphsync.pipelines.assembly import Carry
from graphsync.runner import snapshots
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec


def run(spec: PipelineSpec, control: RunControl, carry: Carry, epoch: int, *, version: int, sweep: bool) -> RunStats:
    with ExitStack() as stack:
        checkpoints = PostgresCheckpoints(
            assembly.pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_
        )
        state = snapshots.state(checkpoints)
        # A snapshot mode run reads everything again each time (its sweep needs it). A handover to a stream
        # reads once: after it completed the stream carries every change, so a restart reads only entity
        # types the mapping gained since (their own checkpoints are not done).
        # A snapshot of another epoch (before a renumbering) is not resumed: its version means nothing now.
        if "version" not in state or state.get("epoch", 0) != epoch or (sweep and state.get("completed")):
            state = {"version": version, "epoch": epoch, "completed": False}
            snapshots.restart(checkpoints, _entities(spec), state)
        source = SnapshotSource(assembly.pg(spec, stack), spec.mapped, checkpoints, version=int(state["version"]))
        sink = targets.sink(spec, stack)
        finite = RunControl(control.stop, until_idle=True, on_batch=control.on_batch)
        stats = assembly.runner(spec, source, sink, finite, stack, carry=carry, epoch=epoch).run(control.stop)
        if not snapshots.done(checkpoints, _entities(spec)):
            return stats
        if sweep:
            # What the snapshot read but the target refused is still in the source, only older in the target.
            refused = PostgresDeadLetters(
                assembly.pg(spec, stack), pipeline=spec.identity, schema=spec.postgres.schema_
            )
            below = stamp(epoch, int(state["version"]))
            stats.add_batch(0, sink.sweep(below_version=below, keep=refused.refused_upserts()), [])
        checkpoints.put(snapshots.STATE, {**state, "completed": True})
        return stats


def _entities(spec: PipelineSpec) -> list[str]:
    return [table.entity for table in tables_of(spec.mapped)]
