"""How a caller steers a pipeline run: stop it, let it end when idle, watch its progress."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphsync.runner.stats import RunStats

# How often a pausing run says it is alive; well inside any stuck threshold.
PAUSE_SLICE_SECONDS = 5.0


@dataclass(frozen=True)
class RunControl:
    stop: threading.Event
    # Return once there is nothing left to do, instead of waiting for new changes.
    until_idle: bool = False
    on_batch: Callable[[RunStats], None] | None = None
    # Streaming modes run two roles; a deployment may split them into separate processes.
    relay: bool = True
    consume: bool = True
    # How long a run with nothing to sync waits before asking the target whether it answers
    # (a worker asks once per report, so its status tells an idle target's outage).
    probe_seconds: float = 30.0
    # Keep a record of the run in the target's history (`graphsync.history`): workers and `graphsync run` do;
    # a run embedded in a program or a test need not.
    history: bool = False
    # Told every declared backfill's progress (`graphsync.backfill`) as they run.
    on_backfills: Callable[[list[dict[str, Any]]], None] | None = None
    # Told every declared checkpoint reset's outcome (`graphsync.resets`) as they are applied.
    on_resets: Callable[[list[dict[str, Any]]], None] | None = None
    # Told the schema changes found in the mapped tables (`graphsync.shapes`).
    on_schema: Callable[[list[dict[str, Any]]], None] | None = None

    def pause(self, seconds: float, stats: RunStats) -> None:
        """Wait between polls, ending early on stop. A chosen wait is not a stuck call, so the run
        keeps saying it is alive meanwhile."""
        deadline = time.monotonic() + seconds
        stats.alive()
        while not self.stop.wait(min(PAUSE_SLICE_SECONDS, max(0.0, deadline - time.monotonic()))):
            stats.alive()
            if time.monotonic() >= deadline:
                return
