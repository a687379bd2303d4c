"""Run statistics: what a run did, for the CLI summary, metrics and the resource status."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from graphsync.change import ApplyResult

MAX_ERRORS = 20
# Upper bounds, in seconds, of the batch latency buckets: a small batch on a local target takes milliseconds,
# a large one under retries a minute.
BATCH_SECONDS_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
# Of the commit-to-visible latency: tens of milliseconds when keeping up, minutes behind an outage.
VISIBLE_SECONDS_BOUNDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)
# What a retry was waiting for: the names a metric's `dependency` label takes.
SOURCE, TARGET, DEAD_LETTERS = "source", "target", "dead_letters"
COMPONENTS = (SOURCE, TARGET, DEAD_LETTERS)
# Where a bidirectional pass wrote: the names a metric's `direction` label takes (see TwoWayProgress.written).
DIRECTIONS = ("to_target", "to_source", "resolved")


@dataclass(frozen=True)
class Histogram:
    """Observations counted into fixed buckets (the last one unbounded), and their sum: bounded memory,
    immutable, so a snapshot can hold one while the run goes on. Prometheus-free: the worker exposes it."""

    bounds: tuple[float, ...] = BATCH_SECONDS_BOUNDS
    # One count per bound, then one for values above the last bound; not cumulative. Empty: all zero.
    counts: tuple[int, ...] = ()
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            object.__setattr__(self, "counts", (0,) * (len(self.bounds) + 1))
        if len(self.counts) != len(self.bounds) + 1:
            raise ValueError(f"a histogram with {len(self.bounds)} bounds has {len(self.bounds) + 1} counts")

    def observe(self, value: float, times: int = 1) -> Histogram:
        """`times`: as many observations of the same value (the changes of one transaction)."""
        index = next((i for i, bound in enumerate(self.bounds) if value <= bound), len(self.bounds))
        counts = list(self.counts)
        counts[index] += times
        return Histogram(self.bounds, tuple(counts), self.total + value * times)

    def plus(self, other: Histogram) -> Histogram:
        if other.bounds != self.bounds:
            raise ValueError(f"histograms with different buckets cannot be added: {self.bounds} and {other.bounds}")
        return Histogram(
            self.bounds, tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)), self.total + other.total
        )

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), the last bound infinite: as Prometheus buckets read."""
        found, running = [], 0
        for bound, count in zip([*self.bounds, float("inf")], self.counts, strict=True):
            running += count
            found.append((bound, running))
        return found


@dataclass
class FileProgress:
    """A files run, file by file: what the status and the progress line show."""

    total: int = 0
    processed: int = 0
    succeeded: int = 0
    unchanged: int = 0
    failed: int = 0
    removed: int = 0
    nodes_written: int = 0
    edges_written: int = 0
    current: set[str] = field(default_factory=set)
    commit: str | None = None
    # Every file that cannot be synced at this commit (from this run or an earlier one), with the reason.
    failed_files: list[tuple[str, str]] = field(default_factory=list)
    # Something the run did that a person should know of (a resync from scratch, and why).
    note: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self, path: str) -> None:
        with self._lock:
            self.current.add(path)

    def finish(self, path: str, *, outcome: str, nodes: int = 0, edges: int = 0) -> None:
        """`outcome`: succeeded, unchanged, failed or removed."""
        with self._lock:
            self.current.discard(path)
            self.processed += 1
            setattr(self, outcome, getattr(self, outcome) + 1)
            self.nodes_written += nodes
            self.edges_written += edges

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "processed": self.processed,
                "succeeded": self.succeeded,
                "unchanged": self.unchanged,
                "failed": self.failed,
                "removed": self.removed,
                "nodesWritten": self.nodes_written,
                "edgesWritten": self.edges_written,
                "current": sorted(self.current),
                "commit": self.commit,
                "failedFiles": [{"path": path, "error": error} for path, error in self.failed_files],
                **({"note": self.note} if self.note else {}),
            }


@dataclass
class TwoWayProgress:
    """A bidirectional run, pass by pass: entities compared, copied each way, conflicts resolved or held."""

    passes: int = 0
    compared: int = 0
    to_target: int = 0
    to_source: int = 0
    recorded: int = 0
    resolved: int = 0
    held: int = 0
    failed: int = 0
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS))

    def fail(self, error: str) -> None:
        self.failed += 1
        self.errors.append(error)

    @property
    def written(self) -> int:
        return self.to_target + self.to_source + self.resolved

    def add(self, other: TwoWayProgress) -> None:
        for name in ("passes", "compared", "to_target", "to_source", "recorded", "resolved", "held", "failed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.errors.extend(other.errors)

    def summary(self) -> dict[str, int]:
        return {
            "passes": self.passes,
            "compared": self.compared,
            "toTarget": self.to_target,
            "toSource": self.to_source,
            "recorded": self.recorded,
            "resolved": self.resolved,
            "held": self.held,
            "failed": self.failed,
        }


@dataclass
class RunStats:
    started_at: float = field(default_factory=time.time)
    batches: int = 0
    # Change events read from the source; `rejected` of them could not be decoded and went to the dead letters.
    read: int = 0
    rejected: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    stale: int = 0
    failed: int = 0
    retries: int = 0
    # Retries per component waited for (see COMPONENTS).
    retries_by: dict[str, int] = field(default_factory=dict)
    # How long applying each batch to the target took, retries included.
    batch_seconds: Histogram = field(default_factory=Histogram)
    # Per change, from its source transaction's commit to the target's commit of it (where the source tells).
    visible_seconds: Histogram = field(default_factory=lambda: Histogram(VISIBLE_SECONDS_BOUNDS))
    # Change events read from the source and not yet applied (queued or being written).
    unapplied: int = 0
    last_batch_at: float | None = None
    last_retry_at: float | None = None
    # When an item last went to the dead-letter store (a status says Degraded while items are being dead-lettered).
    last_failed_at: float | None = None
    # When a source read last found nothing left to read or apply, and whether the newest read did:
    # what the lag is measured from (see `lag_seconds`).
    caught_up_at: float | None = None
    caught_up: bool = False
    # Streaming: since when the relay (outbox -> streams) has been failing; the consumer cannot be caught up then.
    relay_failing_since: float | None = None
    # Capture logical: bytes of WAL the replication slot holds (the server cannot recycle them until applied),
    # and the spec's limit past which the pipeline reports Degraded.
    source_backlog_bytes: int | None = None
    source_backlog_limit_bytes: int | None = None
    # Per loop of the run (reader, writer, ...), when it last came back from a call or was waiting on
    # purpose: a run one of whose loops stops coming back (a blocked read, a half-open socket) is stuck,
    # however alive its process and its other loops look.
    _alive: dict[str, float] = field(default_factory=dict, repr=False)
    # The newest per-item errors, bounded so a flood of poison records cannot grow memory.
    errors: deque[str] = field(default_factory=lambda: deque(maxlen=MAX_ERRORS))
    # Set by a files run.
    files: FileProgress | None = None
    # Set by a bidirectional run.
    two_way: TwoWayProgress | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def synced(self) -> int:
        return self.created + self.updated + self.deleted

    def add_batch(
        self,
        read: int,
        result: ApplyResult,
        failures: list[str],
        seconds: float | None = None,
        *,
        rejected: int = 0,
        committed: Sequence[tuple[float, int]] = (),
    ) -> None:
        """`rejected`: of the `read`, those the source could not decode (among the `failures`); `committed`:
        (commit time, changes) of the batch's source transactions (see Batch.committed)."""
        now = time.time()
        with self._lock:
            if seconds is not None:
                self.batch_seconds = self.batch_seconds.observe(seconds)
            for committed_at, changes in committed:
                # Clocks of two machines: a change seen before it committed is seen at once.
                self.visible_seconds = self.visible_seconds.observe(max(0.0, now - committed_at), changes)
            self.batches += 1
            self.read += read
            self.rejected += rejected
            self.created += result.created
            self.updated += result.updated
            self.deleted += result.deleted
            self.stale += result.stale
            self.failed += len(failures)
            self.errors.extend(failures)
            self.last_batch_at = now
            if failures:
                self.last_failed_at = self.last_batch_at

    def queued(self, changes: int) -> None:
        """`changes` more read and not yet applied (fewer, when negative: applied)."""
        with self._lock:
            self.unapplied += changes

    def add_pass(self, counts: TwoWayProgress) -> None:
        """A bidirectional pass: its compared entities count as read, its writes as synced."""
        with self._lock:
            assert self.two_way is not None
            self.two_way.add(counts)
            self.batches += 1
            self.read += counts.compared
            self.updated += counts.written
            self.failed += counts.failed
            self.errors.extend(counts.errors)
            self.last_batch_at = time.time()
            if counts.failed:
                self.last_failed_at = self.last_batch_at

    def absorb(self, earlier: RunStats) -> RunStats:
        """Fold an earlier phase of the same run (a snapshot before its stream) into these totals."""
        with self._lock:
            self.started_at = min(self.started_at, earlier.started_at)
            self.last_batch_at = _latest(self.last_batch_at, earlier.last_batch_at)
            self.last_retry_at = _latest(self.last_retry_at, earlier.last_retry_at)
            self.last_failed_at = _latest(self.last_failed_at, earlier.last_failed_at)
            if self.caught_up_at is None:
                self.caught_up_at = earlier.caught_up_at
            for name in ("batches", "read", "rejected", "created", "updated", "deleted", "stale", "failed", "retries"):
                setattr(self, name, getattr(self, name) + getattr(earlier, name))
            for component, count in earlier.retries_by.items():
                self.retries_by[component] = self.retries_by.get(component, 0) + count
            self.batch_seconds = self.batch_seconds.plus(earlier.batch_seconds)
            self.visible_seconds = self.visible_seconds.plus(earlier.visible_seconds)
            merged = [*earlier.errors, *self.errors]
            self.errors.clear()
            self.errors.extend(merged)  # the deque keeps the newest
        return self

    def add_error(self, error: str) -> None:
        with self._lock:
            self.failed += 1
            self.errors.append(error)
            self.last_failed_at = time.time()

    def alive(self, loop: str = "run") -> None:
        self._alive[loop] = time.time()

    def waiting(self, loop: str) -> None:
        """`loop` waits for what may never come (a connection): its word stands from the first wait, not renewed,
        so a wait that never ends makes the run stuck."""
        self._alive.setdefault(loop, time.time())

    def ended(self, loop: str) -> None:
        """A loop that ended is no longer watched (its last word would soon look stuck)."""
        self._alive.pop(loop, None)

    @property
    def alive_at(self) -> float | None:
        """The oldest of the loops' last words: None when no loop of this run says."""
        return min(list(self._alive.values()), default=None)

    def relay_failed(self, error: str) -> None:
        with self._lock:
            now = time.time()
            if self.relay_failing_since is None:
                self.relay_failing_since = now
            self.caught_up = False
            self.retries += 1
            self.retries_by[SOURCE] = self.retries_by.get(SOURCE, 0) + 1
            self.last_retry_at = now
            self.errors.append(f"source: relay: {error}")

    def source_backlog(self, held: int, limit: int) -> None:
        self.source_backlog_bytes, self.source_backlog_limit_bytes = held, limit

    def relay_recovered(self) -> None:
        with self._lock:
            self.relay_failing_since = None

    def add_retry(self, error: str, *, component: str = TARGET) -> None:
        """`component`: what the retry waits for, one of COMPONENTS."""
        with self._lock:
            self.retries += 1
            self.retries_by[component] = self.retries_by.get(component, 0) + 1
            self.errors.append(error)
            self.last_retry_at = time.time()

    def add_read(self, *, caught_up: bool) -> None:
        """A source read came back: `caught_up` when it found nothing new and nothing was left to apply."""
        with self._lock:
            # An empty stream proves nothing while the relay cannot fill it.
            caught_up = caught_up and self.relay_failing_since is None
            self.caught_up = caught_up
            if caught_up:
                self.caught_up_at = time.time()

    def lag(self, now: float | None = None) -> float | None:
        with self._lock:
            caught_up_at, caught_up = self.caught_up_at, self.caught_up
        return lag_seconds(caught_up_at, caught_up=caught_up, now=time.time() if now is None else now)

    def summary(self) -> dict[str, Any]:
        with self._lock:
            return {
                "batches": self.batches,
                "read": self.read,
                "rejected": self.rejected,
                "synced": self.synced,
                "created": self.created,
                "updated": self.updated,
                "deleted": self.deleted,
                "stale": self.stale,
                "failed": self.failed,
                "retries": self.retries,
                "seconds": round(time.time() - self.started_at, 3),
                "errors": list(self.errors),
                **({"files": self.files.summary()} if self.files is not None else {}),
                **({"twoWay": self.two_way.summary()} if self.two_way is not None else {}),
            }


def lag_seconds(caught_up_at: float | None, *, caught_up: bool, now: float) -> float | None:
    """How far behind a run is: 0 while its reads keep finding nothing left, else the seconds since one last did.

    None before the first such read: a run still working through its first backlog cannot tell.
    """
    if caught_up_at is None:
        return None
    if caught_up:
        return 0.0
    return max(0.0, now - caught_up_at)


def _latest(*moments: float | None) -> float | None:
    return max((moment for moment in moments if moment is not None), default=None)
