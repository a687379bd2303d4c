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
        if stats.files is not None:
            files = stats.files.summary()
            current = files["current"][0] if files["current"] else ""
            self._out.write(
                f"\rfiles {files['processed']:,}/{files['total']:,}  ok {files['succeeded']:,}"
                f"  unchanged {files['unchanged']:,}  failed {files['failed']:,}  removed {files['removed']:,}"
                f"  nodes {files['nodesWritten']:,}  edges {files['edgesWritten']:,}  {current[-40:]:<40}"
            )
            self._out.flush()
            return
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
    if "files" in data:
        files = data["files"]
        lines = [
            f"commit        {files['commit'] or '-':>10}",
            f"files         {files['total']:>10,}",
            f"  synced      {files['succeeded']:>10,}",
            f"  unchanged   {files['unchanged']:>10,}   (already synced, or the same content)",
            f"  removed     {files['removed']:>10,}",
            f"  failed      {files['failed']:>10,}   (path and reason below and on their GraphsyncDocument)",
            f"nodes written {files['nodesWritten']:>10,}",
            f"edges written {files['edgesWritten']:>10,}",
            f"retries       {data['retries']:>10,}",
            f"seconds       {data['seconds']:>10}",
        ]
        if files["failedFiles"]:
            lines.append("files that cannot be synced:")
            lines.extend(f"  {failed['path']}: {failed['error']}" for failed in files["failedFiles"])
        return "\n".join(lines)
    if data["errors"]:
        lines.append("errors (newest last):")
        lines.extend(f"  {error}" for error in data["errors"])
    return "\n".join(lines)
