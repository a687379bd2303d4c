"""What the worker tests share: a fixed start time, and a run's progress that a test sets by hand.

The worker's tests are split by subject (lag, heartbeat, health, the process's settings);
the heartbeat's reporter and the health server both read a run's progress the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime

from graphsync_operator.worker.readings import Snapshot

T0 = 1_700_000_000.0
STARTED = datetime.fromtimestamp(T0, UTC)


class Progress:
    def __init__(self) -> None:
        self.value: Snapshot | None = None

    def __call__(self) -> Snapshot | None:
        return self.value
