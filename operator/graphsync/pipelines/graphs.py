"""Running a pipeline whose source is a graph (Neo4j or FalkorDB); the PostgreSQL modes are in `postgres`.

- snapshot: a full rebuild. Into FalkorDB it is built aside, in a graph of its own,
  and switched in with one atomic RENAME, so readers never see an empty or half-built
  graph; into Neo4j (one database, no rename) entities are upserted in place and those
  the snapshot did not see are swept, so readers see the old or the new state of each.
- incremental: a watermark scan, and a key scan for deletes every `deleteScanIntervalSeconds`.
- differential: compare source and target, repair only what differs; finite.

State (checkpoints, dead letters) lives on the FalkorDB server of the pipeline, or, with none (Neo4j to
Neo4j), in its target graph (`connectors.graphs.state`).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from graphsync import sources, stores, targets
from graphsync.change import version_now
from graphsync.connectors.falkordb.sink import FalkorSink
from graphsync.connectors.graphs.reading import Versions
from graphsync.connectors.graphs.source import (
    GraphDifferentialSource,
    GraphSnapshotSource,
    GraphWatermarkSource,
    highest_watermarks,
)
from graphsync.runner import snapshots
from graphsync.runner.contracts import Checkpoints, Source
from graphsync.runner.control import RunControl
from graphsync.runner.loop import Runner, RunOptions
from graphsync.runner.stats import RunStats
from graphsync.spec.endpoints import DeleteDetection
from graphsync.spec.pipeline import Mode, PipelineSpec


def run(spec: PipelineSpec, control: RunControl) -> RunStats:
    with ExitStack() as stack:
        stored = stores.state_of(spec, stack)
        if spec.mode is Mode.SNAPSHOT:
            return _rebuild(spec, control, stored, stack)
        source: Source
        if spec.mode is Mode.INCREMENTAL:
            reading = spec.reading
            if reading.watermark_property is None:
                raise ValueError("mode incremental needs reading.watermarkProperty on the graph source")
            scan = reading.delete_scan_interval_seconds if reading.deletes is DeleteDetection.KEY_SCAN else None
            source = GraphWatermarkSource(
                sources.graph_reader(spec, stack),
                targets.reader(spec, stack),
                spec.mapped,
                stored.checkpoints,
                watermark=reading.watermark_property,
                delete_scan_interval=scan,
                overlap_seconds=reading.watermark_overlap_seconds,
            )
            idle_wait = reading.poll_interval_seconds
        else:
            reader = sources.graph_reader(spec, stack)
            versions = Versions(spec.reading.watermark_property, version_now(), reader.native)
            source = GraphDifferentialSource(
                reader, targets.reader(spec, stack), spec.mapped, versions=versions, form=targets.form(spec)
            )
            idle_wait = 0.0
        options = RunOptions(
            batch_size=spec.batch_size,
            until_idle=control.until_idle,
            idle_wait=idle_wait,
            probe_seconds=control.probe_seconds,
        )
        runner = Runner(source, targets.sink(spec, stack), stored.dead_letters, options, on_batch=control.on_batch)
        return runner.run(control.stop)


def _rebuild(spec: PipelineSpec, control: RunControl, stored: stores.State, stack: ExitStack) -> RunStats:
    """A full snapshot, resumable: its version and per-entity positions are checkpointed as it goes."""
    checkpoints = stored.checkpoints
    state = snapshots.state(checkpoints)
    aside = spec.target.falkordb is not None
    build = f"{spec.falkordb.graph}{targets.BUILD_SUFFIX}" if aside else None
    reader = sources.graph_reader(spec, stack)
    sink = targets.sink(spec, stack, graph=build)
    if state.get("switching") and isinstance(sink, FalkorSink):
        # Killed between saying the build is complete and saying it is switched in: the RENAME happened
        # unless the build graph is still there. Finish it; never switch in a graph that is not the build.
        if sink.exists():
            sink.switch_into(spec.falkordb.graph)
        _completed(checkpoints, state)
        state = {**state, "completed": True}
    if state.get("completed") or "version" not in state:
        if isinstance(sink, FalkorSink) and build is not None:
            sink.drop_graph()
        state = {"version": version_now(), "completed": False}
        watermark = spec.reading.watermark_property
        if watermark is not None:
            # Taken before reading: a change made while the snapshot runs is read again by the increments.
            state["watermarks"] = highest_watermarks(reader, spec.mapped, watermark)
        snapshots.restart(checkpoints, spec.mapped.entity_names(), state)
    versions = Versions(spec.reading.watermark_property, int(state["version"]), reader.native)
    source = GraphSnapshotSource(reader, spec.mapped, checkpoints, versions=versions)
    options = RunOptions(batch_size=spec.batch_size, until_idle=True)
    dead_letters = stored.dead_letters
    stats = Runner(source, sink, dead_letters, options, on_batch=control.on_batch).run(control.stop)
    if not snapshots.done(checkpoints, spec.mapped.entity_names()):
        return stats
    if isinstance(sink, FalkorSink) and build is not None:
        # Said before the RENAME: a run after a crash between the two knows the build is whole and finishes
        # the switch, instead of preparing (so creating) an empty build graph and switching that in.
        state = {**state, "switching": True}
        checkpoints.put(snapshots.STATE, state)
        sink.switch_into(spec.falkordb.graph)
    else:
        # Rebuilt in place: what the target still holds beyond the source is deleted by a key scan
        # (versions may come from watermarks, so "older than the snapshot" would not mean "unseen").
        deletes = GraphDifferentialSource(
            reader, targets.reader(spec, stack), spec.mapped, versions=versions, content=False
        )
        stats.absorb(Runner(deletes, sink, dead_letters, options, on_batch=control.on_batch).run(control.stop))
    _completed(checkpoints, state)
    return stats


def _completed(checkpoints: Checkpoints, state: dict[str, Any]) -> None:
    """The rebuild is in place: increments go on from the watermarks taken before it read."""
    for entity, position in state.get("watermarks", {}).items():
        checkpoints.put(f"watermark:{entity}", position)
    checkpoints.put(snapshots.STATE, {**state, "completed": True, "switching": False})
