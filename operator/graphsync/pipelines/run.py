"""Running a pipeline spec: the code behind `graphsync run` and the worker pods.

Around every mode: the engine's bookkeeping kept pruned, checkpoint resets applied before anything is read,
schema changes watched (`shapes`), backfills beside the run, and the run's history recorded. Then the
pipeline's own runner: `files` (a Git repository or a directory), `bidirectional`, `graphs` (a Neo4j or
FalkorDB source), or `postgres` for the PostgreSQL modes (`streaming`, `snapshot`, `incremental`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial

from graphsync import adoption, capture, history, resets, retention, shapes
from graphsync.backfill import Backfills
from graphsync.pipelines import bidirectional, files, graphs, postgres
from graphsync.reconcile.pipeline import audit_store
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.backfill import Backfill
from graphsync.spec.pipeline import Mode, PipelineSpec


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
        return postgres.reconnecting(spec, control)
    adoption.adopt(spec)
    return own(spec, control)


def _own_engine(spec: PipelineSpec) -> Callable[[PipelineSpec, RunControl], RunStats] | None:
    """Pipelines run by a module of their own: files, bidirectional, graph sources."""
    if spec.source.files is not None:
        return files.run
    if spec.mode is Mode.BIDIRECTIONAL:
        return bidirectional.run
    if spec.source.graph is not None:
        return graphs.run
    return None
