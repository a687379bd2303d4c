"""Running a pipeline whose source is files: a Git repository (by commit) or a directory.

Each round syncs the repository's current commit through the worker pool
(`connectors.files.workers`), holding the pipeline's writer lease. When every file of a
commit is done, the commit is the checkpoint; `incremental` then reads only the files
changed since it.
"""

from __future__ import annotations

import json
import logging
from contextlib import ExitStack

from graphsync import sources, targets
from graphsync.connectors.files.lease import Lease
from graphsync.connectors.files.repository import open_repository
from graphsync.connectors.files.statements import Layout
from graphsync.connectors.files.workers import FileSync, now
from graphsync.runner.control import RunControl
from graphsync.runner.retry import Interrupted
from graphsync.runner.stats import FileProgress, RunStats
from graphsync.spec.pipeline import Mode, PipelineSpec

log = logging.getLogger(__name__)
MAX_FAILED_LISTED = 1000


def run(spec: PipelineSpec, control: RunControl, lease: Lease | None = None) -> RunStats:
    """`lease`: one the caller holds already (a repair around the sync it runs), else the run takes its own."""
    files = spec.files
    stats = RunStats(files=FileProgress())
    progress = stats.files
    assert progress is not None
    with ExitStack() as stack:
        layout = Layout(files.label, files.node_key)
        store = targets.document_store(spec, layout, stack)
        sync = FileSync(
            store,
            open_repository(files, sources.cache_dir()),
            files,
            layout=layout,
            pipeline=spec.identity,
            stats=stats,
            stop=control.stop,
            on_progress=control.on_batch,
        )
        stats.alive()
        if control.on_batch is not None:
            # Before any work, as the runner does: a watcher then sees the retries of a source or target
            # that is down from the start.
            control.on_batch(stats)
        sync.retrying(store.prepare)
        lease = lease or targets.writer_lease(spec, store, sync.retrying)
        while not control.stop.is_set():
            try:
                with lease.held(sync.waiting):
                    _round(spec, sync, progress)
            except Interrupted:
                break
            if control.stop.is_set():
                break
            if control.on_batch is not None:
                control.on_batch(stats)
            if spec.mode is Mode.SNAPSHOT or control.until_idle:
                break
            control.pause(files.poll_interval_seconds, stats)
    return stats


def _round(spec: PipelineSpec, sync: FileSync, progress: FileProgress) -> None:
    """Sync the repository's current commit from the checkpoint's, then make it the checkpoint."""
    store = sync.store
    checkpoint_name = f"{spec.identity}:files"
    commit = sync.retrying(sync.repository.resolve)
    saved = sync.retrying(store.checkpoint, checkpoint_name)
    base = json.loads(saved).get("commit") if saved and spec.mode is Mode.INCREMENTAL else None
    if base is not None and not sync.repository.has_commit(base):
        # History was rewritten (a force-push) and the mirror is new: no diff from the checkpoint
        # exists, so every file is read and what vanished is removed, as in a snapshot.
        progress.note = f"checkpoint commit {base} is no longer in the repository; resynced every file"
        log.warning("files: %s", progress.note)
        base = None
    progress.commit = commit
    # Files that failed are read again every round (a parser fixed, a file a transient fault broke) until
    # they sync; a full listing has them anyway.
    retry = sync.failed(commit) if base is not None else []
    if commit is not None and base == commit and not retry:
        return
    sync.sync(sync.work(base, commit, retry), commit)
    if sync.stopped:
        return
    progress.failed_files = sync.retrying(store.failures, f"{spec.identity}:", MAX_FAILED_LISTED)
    sync.retrying(store.save_checkpoint, checkpoint_name, json.dumps({"commit": commit, "at": now()}))
