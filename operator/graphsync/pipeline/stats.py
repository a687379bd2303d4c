"""Run statistics: what a run did, for the CLI summary, metrics and the resource status."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from graphsync.change import ApplyResult

MAX_ERRORS = 20


@dataclass
class RunStats:
    started_at: float = field(default_factory=time.time)
    batches: int = 0
    read: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    stale: int = 0
    failed: int = 0
    retries: int = 0
    last_batch_at: float | None = None
    # The newest per-item errors, bounded so a flood of poison records cannot grow memory.
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS))
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def synced(self) -> int:
        return self.created + self.updated + self.deleted

    def add_batch(self, read: int, result: ApplyResult, failures: list[str]) -> None:
        with self._lock:
            self.batches += 1
            self.read += read
            self.created += result.created
            self.updated += result.updated
            self.deleted += result.deleted
            self.stale += result.stale
            self.failed += len(failures)
            self.errors.extend(failures)
            self.last_batch_at = time.time()

    def absorb(self, earlier: RunStats) -> RunStats:
        """Fold an earlier phase of the same run (a snapshot before its stream) into these totals."""
        with self._lock:
            self.started_at = min(self.started_at, earlier.started_at)
            for name in ("batches", "read", "created", "updated", "deleted", "stale", "failed", "retries"):
                setattr(self, name, getattr(self, name) + getattr(earlier, name))
            merged = [*earlier.errors, *self.errors]
            self.errors.clear()
            self.errors.extend(merged)  # the deque keeps the newest
        return self

    def add_retry(self, error: str) -> None:
        with self._lock:
            self.retries += 1
            self.errors.append(error)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "batches": self.batches,
                "read": self.read,
                "synced": self.synced,
                "created": self.created,
                "updated": self.updated,
                "deleted": self.deleted,
                "stale": self.stale,
                "failed": self.failed,
                "retries": self.retries,
                "seconds": round(time.time() - self.started_at, 3),
                "errors": list(self.errors),
            }
