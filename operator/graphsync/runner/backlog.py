"""What a run has read and not yet applied: whether it is caught up, and how many changes wait."""

from __future__ import annotations

import threading

from graphsync.runner.contracts import Batch
from graphsync.runner.stats import RunStats


class Backlog:
    """Batches read but not yet applied, and whether the source was since found empty: caught up when both.

    The reader reads ahead, so a read that finds nothing new may come while batches still wait;
    the run is caught up once the writer has applied them. The stats are told under the lock,
    so the reader's word and the writer's reach them in the order they were decided.
    """

    def __init__(self, stats: RunStats) -> None:
        self._stats = stats
        self._lock = threading.Lock()
        self._unapplied = 0
        self._empty = False

    def read(self, batch: Batch, *, short: bool = False) -> None:
        """`short`: fewer changes than a batch holds came back, so the source had no more at that moment;
        under steady traffic a read is seldom empty, and the run is still keeping up."""
        with self._lock:
            if not batch.idle:
                self._unapplied += 1
                self._stats.queued(size(batch))
            # A finite source's last batch leaves nothing behind it either.
            self._empty = batch.idle or batch.final or short
            self._stats.add_read(caught_up=batch.idle and self._unapplied == 0)

    def applied(self, batch: Batch) -> None:
        with self._lock:
            self._unapplied -= 1
            self._stats.queued(-size(batch))
            if self._empty and self._unapplied == 0:
                self._stats.add_read(caught_up=True)

    def unknown(self) -> None:
        """A read failed: whatever the source holds, the run cannot say it is caught up."""
        with self._lock:
            self._empty = False
            self._stats.add_read(caught_up=False)


def size(batch: Batch) -> int:
    """What a batch counts for in `RunStats.unapplied`: its changes, decoded or not."""
    return len(batch.changes) + len(batch.rejected)
