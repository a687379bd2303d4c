"""Live progress on a terminal and the final summary of a run."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from graphsync.pipeline.stats import RunStats


class Progress:
    """Redraws one status line at most a few times a second, and only on a terminal."""

    def __init__(self, out: TextIO = sys.stderr, *, interval: float = 0.25) -> None:
        self._out = out
        self._interval = interval
        self._last = 0.0
        self._enabled = out.isatty()

    def __call__(self, stats: RunStats) -> None:
        now = time.monotonic()
        if not self._enabled or now - self._last < self._interval:
            return
        self._last = now
        elapsed = max(time.time() - stats.started_at, 1e-9)
        self._out.write(
            f"\rsynced {stats.synced:>9,}  (+{stats.created:,} ~{stats.updated:,} -{stats.deleted:,})"
            f"  failed {stats.failed:,}  retries {stats.retries:,}  {stats.read / elapsed:,.0f}/s "
        )
        self._out.flush()

    def finish(self) -> None:
        if self._enabled:
            self._out.write("\n")


def summary_text(stats: RunStats) -> str:
    data = stats.summary()
    lines = [
        f"items synced  {data['synced']:>10,}",
        f"  created     {data['created']:>10,}",
        f"  updated     {data['updated']:>10,}",
        f"  deleted     {data['deleted']:>10,}",
        f"  unchanged   {data['stale']:>10,}   (older than the target: duplicates, reordering)",
        f"failed        {data['failed']:>10,}   (in the dead-letter store)",
        f"retries       {data['retries']:>10,}",
        f"seconds       {data['seconds']:>10}",
    ]
    if data["errors"]:
        lines.append("errors (newest last):")
        lines.extend(f"  {error}" for error in data["errors"])
    return "\n".join(lines)
