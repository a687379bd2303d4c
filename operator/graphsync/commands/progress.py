"""Live progress on a terminal and the final summary of a run."""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Mapping
from typing import Any, TextIO

from graphsync.runner.stats import RunStats

# Erase from the cursor to the end of the line: a shorter line leaves nothing of the longer one before it.
_ERASE = "\x1b[K"


class Progress:
    """Redraws one status line at most a few times a second, and only on a terminal, within its width."""

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
        # Asked each time: the terminal may have been resized.
        width = shutil.get_terminal_size(fallback=(80, 24)).columns
        self._out.write("\r" + fitted(line_of(stats, time.time()), width) + _ERASE)
        self._out.flush()

    def finish(self) -> None:
        if self._enabled:
            self._out.write("\n")


def line_of(stats: RunStats, now: float) -> str:
    """The status line of a run (pure): counts, then rate, the most useful first, so cutting it loses least."""
    if stats.files is not None:
        files = stats.files.summary()
        current = files["current"][0] if files["current"] else ""
        return (
            f"files {files['processed']:,}/{files['total']:,}  ok {files['succeeded']:,}"
            f"  failed {files['failed']:,}  unchanged {files['unchanged']:,}  removed {files['removed']:,}"
            f"  nodes {files['nodesWritten']:,}  edges {files['edgesWritten']:,}  {current}"
        )
    elapsed = max(now - stats.started_at, 1e-9)
    return (
        f"synced {stats.synced:,}  failed {stats.failed:,}  {stats.read / elapsed:,.0f}/s"
        f"  (+{stats.created:,} ~{stats.updated:,} -{stats.deleted:,})  retries {stats.retries:,}"
    )


def fitted(line: str, width: int) -> str:
    """`line` within a terminal of `width` columns, one left free so the cursor never wraps (pure)."""
    room = max(width - 1, 1)
    return line if len(line) <= room else line[: max(room - 1, 0)] + "…"


def summary_text(data: Mapping[str, Any], wide: bool = False) -> str:
    """The summary of a run, from `RunStats.summary()` (pure): what `-o json|yaml` gives, in words."""
    del wide
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
