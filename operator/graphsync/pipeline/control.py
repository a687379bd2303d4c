"""How a caller steers a pipeline run: stop it, let it end when idle, watch its progress."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from graphsync.pipeline.stats import RunStats


@dataclass(frozen=True)
class RunControl:
    stop: threading.Event
    # Return once there is nothing left to do, instead of waiting for new changes.
    until_idle: bool = False
    on_batch: Callable[[RunStats], None] | None = None
    # Streaming modes run two roles; a deployment may split them into separate processes.
    relay: bool = True
    consume: bool = True
