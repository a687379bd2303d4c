"""The loop every worker runs: read, apply (retrying transient errors), dead-letter poison, checkpoint.

A reader thread fills a bounded queue, so a slow sink slows reading instead of
growing memory. The writer applies one batch at a time (or, with `writers` above one, that many at
once, each in a target transaction of its own, when no two lock the same entity) and checkpoints each
only after the sink committed it, in the order the batches were read, so a checkpoint never passes a
batch not yet applied. On shutdown the in-flight batches are finished; batches read but not applied
are simply not checkpointed, so the source delivers them again.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, TypeVar

from graphsync import logs
from graphsync.change import ApplyResult, Change, stamped
from graphsync.runner.backlog import Backlog
from graphsync.runner.contracts import Batch, DeadLetters, Rejection, Sink, Source
from graphsync.runner.poison import apply_isolating
from graphsync.runner.retry import Backoff, Interrupted
from graphsync.runner.stats import DEAD_LETTERS, SOURCE, TARGET, RunStats

log = logging.getLogger(__name__)
T = TypeVar("T")
# The run's two loops, as its stats tell them apart to find a stuck one.
READER, WRITER = "reader", "writer"
# What each side a retry names waits for, as the retry metric's `component` tells them apart.
# Dead letters named one by one in the batch's warning (with each change's correlation id); the rest counted.
LOGGED_REJECTIONS = 20
_COMPONENTS = {"target": TARGET, "source": SOURCE, "dead-letter store": DEAD_LETTERS}


@dataclass(frozen=True)
class RunOptions:
    batch_size: int = 500
    queue_depth: int = 2
    backoff: Backoff = field(default_factory=Backoff)
    # Stop once the source returns an empty (or final) batch: for finite runs and tests.
    until_idle: bool = False
    # Seconds to wait after an empty read before asking again (polled sources).
    idle_wait: float = 0.0
    # With nothing to apply for this long, the target is pinged: an outage then shows (as retries)
    # while nothing flows, instead of only when the next change arrives. 0 never pings.
    probe_seconds: float = 30.0
    # Errors after which the source's connections cannot be used again (a restarted PostgreSQL): the
    # run ends with the error instead of retrying a dead connection, and its caller opens new ones.
    connection_lost: Callable[[BaseException], bool] = lambda _error: False
    # The version epoch the pipeline writes in on its target (see graphsync.epochs): every change read is
    # stamped with it, so the sink, the dead-letter store and the source's settlements all see one version.
    epoch: int = 0
    # Batches applied at once: only for a sink whose writes may land in any order (version-guarded, each
    # entity locked before its version is read), where the target, not the worker, is the limit.
    writers: int = 1
    # What a staged batch locks on the target, or None when that cannot be known ahead: a batch waits for
    # every one in flight it shares a lock with (one without a footprint, for all), so two transactions of
    # the run never wait on each other's locks.
    footprint: Callable[[Any], frozenset[Hashable] | None] = lambda _staged: None


@dataclass(frozen=True)
class _Applied:
    """A batch the sink committed: what it did, the records it refused, how long it took, its log id."""

    result: ApplyResult
    rejected: list[Rejection]
    seconds: float
    correlation: str


@dataclass(frozen=True)
class _Flight:
    """A batch handed to a writer thread, and its commit to come."""

    batch: Batch
    applying: Future[_Applied]


def _committed_first(oldest: _Flight, batches: queue.Queue[Batch | None]) -> bool:
    """Wait for the oldest batch in flight to end or the next batch to come, whichever is first: True if it
    ended (committed or failed)."""
    while batches.empty():
        if wait([oldest.applying], timeout=0.01).done:
            return True
    return False


def _shared(locks: frozenset[Hashable] | None, flight: deque[_Flight]) -> bool:
    """Whether a batch with `locks` would wait on (or deadlock with) a lock of a batch in flight."""
    return any(locks is None or held.batch.locks is None or not locks.isdisjoint(held.batch.locks) for held in flight)


class Runner:
    def __init__(
        self,
        source: Source,
        sink: Sink,
        dead_letters: DeadLetters,
        options: RunOptions = RunOptions(),
        *,
        on_batch: Callable[[RunStats], None] | None = None,
        stats: RunStats | None = None,
    ) -> None:
        """`stats`: those of an earlier runner of the same run (one rebuilt on new connections) to go on counting."""
        self._source = source
        self._sink = sink
        self._dead_letters = dead_letters
        self._options = options
        self._on_batch = on_batch
        self.stats = stats if stats is not None else RunStats()
        self._started = False

    def run(self, stop: threading.Event) -> RunStats:
        if self._on_batch and not self._started:
            # Once, before any work: a watcher holds the live stats from the start, and so sees
            # the retries of a target or source that is down before the first batch.
            self._on_batch(self.stats)
        self._started = True
        try:
            self._retrying(self._sink.prepare, stop, "target")
            self._retrying(self._source.prepare, stop, "source")
        except Interrupted:
            log.info("shutdown requested while preparing")
            return self.stats
        batches: queue.Queue[Batch | None] = queue.Queue(maxsize=self._options.queue_depth)
        backlog = Backlog(self.stats)
        reader_error: list[BaseException] = []
        # The writer tells the reader it is done without touching the caller's `stop`,
        # which may outlive this run (a snapshot followed by a stream).
        done = threading.Event()
        reader = threading.Thread(
            target=self._read_loop, args=(batches, backlog, stop, done, reader_error), daemon=True
        )
        reader.start()
        try:
            self._write_loop(batches, backlog, stop)
        except Interrupted:
            log.info("shutdown requested: the unfinished batch will be delivered again")
        finally:
            done.set()
            _drain(batches)
            reader.join(timeout=30)
            self.stats.ended(WRITER)
        if reader_error:
            raise reader_error[0]
        return self.stats

    def _write_loop(self, batches: queue.Queue[Batch | None], backlog: Backlog, stop: threading.Event) -> None:
        """Hand each batch to a writer thread once no batch in flight shares its locks; finish them in order."""
        pool = ThreadPoolExecutor(self._options.writers, thread_name_prefix="writer")
        # Batches being applied, oldest first: each is checkpointed once it and every one before it are.
        flight: deque[_Flight] = deque()
        # False while an error unwinds the run: a batch still in flight is then left to fail on the closed
        # connections rather than waited for (it may be retrying an outage that only `stop` ends).
        settled = False
        try:
            while True:
                while flight and _committed_first(flight[0], batches):
                    # Checkpointed as soon as committed, not when the next batch comes.
                    self._finish(flight.popleft(), backlog, stop)
                batch = _take(batches, lambda: self.stats.alive(WRITER))
                # Batches read ahead but not started are left unacknowledged: the source redelivers them.
                if batch is None or stop.is_set():
                    break
                if batch.probe:
                    self._retrying(self._sink.ping, stop, "target")
                    backlog.applied(batch)
                else:
                    while flight and (len(flight) >= self._options.writers or _shared(batch.locks, flight)):
                        self._finish(flight.popleft(), backlog, stop)
                    if stop.is_set():
                        break
                    # In the caller's log context, as the batch's lines were when it was applied in this thread.
                    applying = pool.submit(contextvars.copy_context().run, self._applied, batch, stop)
                    flight.append(_Flight(batch, applying))
                self.stats.alive(WRITER)
            while flight:
                self._finish(flight.popleft(), backlog, stop)
            settled = True
        except Interrupted:
            settled = True
            raise
        finally:
            pool.shutdown(wait=settled, cancel_futures=True)

    def _read_loop(
        self,
        batches: queue.Queue[Batch | None],
        backlog: Backlog,
        stop: threading.Event,
        done: threading.Event,
        errors: list[BaseException],
    ) -> None:
        try:
            attempt = 0
            # When the writer last got something to do: a batch, or a probe of the target.
            handed = time.monotonic()
            while not (stop.is_set() or done.is_set()):
                try:
                    batch = self._source.read(self._options.batch_size)
                    self.stats.alive(READER)
                    attempt = 0
                except Exception as exc:  # a source outage is retried, like a sink's (a lost connection ends the run)
                    backlog.unknown()
                    if self._options.connection_lost(exc):
                        raise
                    self.stats.add_retry(f"source: reading: {type(exc).__name__}: {exc}", component=SOURCE)
                    self.stats.alive(READER)
                    log.warning("source: reading failed, retrying: %s", exc)
                    self._options.backoff.wait(attempt, stop)
                    attempt += 1
                    continue
                if self._probe_due(batch, handed):
                    batch = Batch([], probe=True)
                idle = batch.idle
                if not idle:
                    handed = time.monotonic()
                backlog.read(batch, short=len(batch.changes) < self._options.batch_size)
                if batch.changes:
                    batch.changes = stamped(batch.changes, self._options.epoch)
                    batch.staged, batch.locks = self._stage(batch.changes)
                if not idle:
                    _put(batches, batch, lambda: stop.is_set() or done.is_set(), lambda: self.stats.alive(READER))
                if batch.final or (idle and self._options.until_idle):
                    break
                if idle and self._options.idle_wait:
                    _wait(
                        self._options.idle_wait,
                        lambda: stop.is_set() or done.is_set(),
                        lambda: self.stats.alive(READER),
                    )
        except Interrupted:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the writer thread, which re-raises it
            errors.append(exc)
        finally:
            self.stats.ended(READER)
            _put(batches, None, lambda: False)

    def _probe_due(self, batch: Batch, handed: float) -> bool:
        """An idle read long after the writer's last work: a long-running run asks whether the target answers."""
        every = self._options.probe_seconds
        return batch.idle and not self._options.until_idle and every > 0 and time.monotonic() - handed >= every

    def _stage(self, changes: Sequence[Change]) -> tuple[Any, frozenset[Hashable] | None]:
        """What the sink staged, and what it will lock (only a run applying batches at once asks)."""
        try:
            staged = self._sink.stage(changes)
        except Exception:  # noqa: BLE001 - a bad record: apply stages again and isolates it
            return None, None
        return staged, self._options.footprint(staged) if self._options.writers > 1 else None

    def _applied(self, batch: Batch, stop: threading.Event) -> _Applied:
        correlation = logs.new_id()
        # Every line logged while this batch is applied (retries, poison isolation, the sink's) carries its id.
        with logs.scope(**{logs.CORRELATION_ID: correlation}):
            started = time.monotonic()
            result, rejected = self._apply(batch.changes, stop, batch.staged)
        return _Applied(result, rejected, time.monotonic() - started, correlation)

    def _finish(self, flight: _Flight, backlog: Backlog, stop: threading.Event) -> None:
        """Dead-letter what the sink refused and checkpoint the batch, once the sink committed it."""
        batch, applied = flight.batch, flight.applying.result()
        result, seconds = applied.result, applied.seconds
        with logs.scope(**{logs.CORRELATION_ID: applied.correlation}):
            failed = [*batch.rejected, *applied.rejected]
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "applied %d change(s): %s", len(batch.changes), "; ".join(c.describe() for c in batch.changes)
                )
            if failed:
                log.warning(
                    "%d item(s) of the batch go to the dead-letter store: %s",
                    len(failed),
                    "; ".join(_describe(r) for r in failed[:LOGGED_REJECTIONS])
                    + (f"; and {len(failed) - LOGGED_REJECTIONS} more" if len(failed) > LOGGED_REJECTIONS else ""),
                )
                self._retrying(lambda: self._dead_letters.record(failed), stop, "dead-letter store")
            self._retrying(lambda: self._source.commit(batch, failed), stop, "source")
        self.stats.add_batch(
            len(batch.changes) + len(batch.rejected),
            result,
            [_describe(r) for r in failed],
            seconds=seconds,
            rejected=len(batch.rejected),
            committed=batch.committed,
        )
        if self._on_batch:
            self._on_batch(self.stats)
        backlog.applied(batch)

    def _apply(
        self, changes: Sequence[Change], stop: threading.Event, staged: Any = None
    ) -> tuple[ApplyResult, list[Rejection]]:
        """Apply with retries; on a permanent error, bisect to isolate the poison records."""
        return apply_isolating(
            self._sink, changes, attempt=lambda action: self._retrying(action, stop, "target"), staged=staged
        )

    def _retrying(self, action: Callable[[], T], stop: threading.Event, side: str) -> T:
        """`side` names what failed (target, source, dead-letter store) in the error a status shows."""
        attempt = 0
        while True:
            try:
                return action()
            except Exception as exc:
                if not self._is_transient(exc) or self._options.connection_lost(exc):
                    raise
                self.stats.add_retry(
                    f"{side}: retry {attempt + 1}: {type(exc).__name__}: {exc}", component=_COMPONENTS[side]
                )
                self.stats.alive(WRITER)
                log.warning("%s: transient error, retrying: %s", side, exc)
                self._options.backoff.wait(attempt, stop)
                attempt += 1

    def _is_transient(self, error: BaseException) -> bool:
        return self._sink.is_transient(error) or isinstance(error, ConnectionError | TimeoutError | OSError)


def _describe(rejection: Rejection) -> str:
    return f"{rejection.change.describe()}: {rejection.reason}"


def _put(
    batches: queue.Queue[Batch | None],
    item: Batch | None,
    stopping: Callable[[], bool],
    waiting: Callable[[], None] = lambda: None,
) -> None:
    """`waiting` is told while the writer is busy: waiting on it is not being stuck."""
    while True:
        try:
            batches.put(item, timeout=0.2)
            return
        except queue.Full:
            if stopping():
                raise Interrupted from None
            waiting()


def _take(batches: queue.Queue[Batch | None], waiting: Callable[[], None]) -> Batch | None:
    """The next batch; `waiting` is told while the reader has none: waiting on it is not being stuck."""
    while True:
        try:
            return batches.get(timeout=1.0)
        except queue.Empty:
            waiting()


def _wait(seconds: float, stopping: Callable[[], bool], alive: Callable[[], None]) -> None:
    """A polled source's pause between reads; `alive` is told meanwhile, as a chosen wait is not a stuck call."""
    deadline = time.monotonic() + seconds
    while not stopping() and time.monotonic() < deadline:
        time.sleep(min(0.1, seconds))
        alive()


def _drain(batches: queue.Queue[Batch | None]) -> None:
    while True:
        try:
            batches.get_nowait()
        except queue.Empty:
            return
