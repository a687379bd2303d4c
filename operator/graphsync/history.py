"""The durable history of a pipeline's sync runs, kept in its target graph beside its reconciliations'
(`reconcile.audit`): `graphsync history` and `kubectl graphsync history` list both.

A run is recorded when it starts (outcome `running`), again every RECORD_SECONDS while it goes, and when it
ends; the newest KEEP runs per pipeline are kept. A run whose record stopped being renewed ended without
saying how (its process was killed): it reads as `lost`. Recording never holds a run up: it happens in a
thread of its own, and a target that does not answer only delays the record to the next attempt.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from graphsync import logs
from graphsync.connectors import cypher
from graphsync.connectors.graphs.reading import Store
from graphsync.reconcile import audit
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats

log = logging.getLogger(__name__)

KEEP = 100
RECORD_SECONDS = 30.0
# A running record not renewed for this many periods belongs to a process that died.
LOST_AFTER_PERIODS = 3
# How long a run's end may wait for its final record: briefly, since the worker's final report to the operator
# comes after it within the pod's grace period (a late one leaves the pod read as still running).
FINAL_WAIT_SECONDS = 2.0

_LABEL = cypher.labels(["GraphsyncRun"])
RECORD = cypher.render(audit.RECORD_TEMPLATE, label=_LABEL)
PRUNE = cypher.render(audit.PRUNE_TEMPLATE, label=_LABEL)
LIST = cypher.render(audit.LIST_TEMPLATE, label=_LABEL)
# The counts a run record keeps, from `RunStats.summary`.
COUNTS = ("read", "synced", "created", "updated", "deleted", "stale", "failed", "retries")


def host() -> str:
    """Where this process runs: in Kubernetes the pod's name (HOSTNAME), so a record names its worker pod."""
    return os.environ.get("HOSTNAME") or socket.gethostname()


class Outcome(enum.StrEnum):
    RUNNING = "running"
    # Ended by itself: a snapshot read everything, a run to idle found nothing left.
    COMPLETED = "completed"
    # Asked to stop (SIGTERM, Ctrl-C, a rollout) and stopped after its batch in flight.
    STOPPED = "stopped"
    FAILED = "failed"
    # Shown, never stored: the record of a run whose process died without saying how.
    LOST = "lost"


@dataclass(frozen=True)
class Run:
    """Which run a record is of: the pipeline, its mode, the host (a worker's pod) and when it started."""

    pipeline: str
    mode: str
    host: str
    started: datetime
    id: str


def record_of(
    run: Run, now: datetime, summary: Mapping[str, Any], outcome: Outcome, error: str | None = None
) -> dict[str, Any]:
    """The properties a run's record holds, from its stats' summary (pure)."""
    finished = None if outcome is Outcome.RUNNING else now.isoformat(timespec="milliseconds")
    return {
        "pipeline": run.pipeline,
        "kind": "sync",
        "mode": run.mode,
        "host": run.host,
        "startedAt": run.started.isoformat(timespec="milliseconds"),
        "updatedAt": now.isoformat(timespec="milliseconds"),
        "finishedAt": finished,
        "outcome": outcome.value,
        "error": error,
        **{name: int(summary.get(name, 0)) for name in COUNTS},
    }


def shown(run: Mapping[str, Any], now: datetime, period: float = RECORD_SECONDS) -> dict[str, Any]:
    """A stored record as a reader sees it: a `running` one no longer renewed is `lost` (pure)."""
    seen = dict(run)
    updated = datetime.fromisoformat(str(seen.get("updatedAt") or seen["startedAt"]))
    if seen.get("outcome") == Outcome.RUNNING and now - updated > timedelta(seconds=period * LOST_AFTER_PERIODS):
        seen["outcome"] = Outcome.LOST.value
        seen["error"] = seen.get("error") or f"no word from the run since {seen['updatedAt']}: its process ended"
    return seen


def outcome_of(control: RunControl, error: BaseException | None) -> Outcome:
    if error is not None:
        return Outcome.FAILED
    return Outcome.STOPPED if control.stop.is_set() else Outcome.COMPLETED


def runs(store: Store, pipeline: str, limit: int = 20, now: datetime | None = None) -> list[dict[str, Any]]:
    """The newest sync runs first."""
    [[rows]] = store.read(LIST, {"pipeline": pipeline, "limit": limit})
    moment = now or datetime.now(UTC)
    return [shown(row, moment) for row in rows]


def recorded(
    pipeline: str,
    mode: str,
    open_store: Callable[[ExitStack], Store],
    control: RunControl,
    run: Callable[[RunControl], RunStats],
) -> RunStats:
    """`run(control)`, its record kept from start to end (how it ended: its return, a stop, or its error)."""
    recorder = Recorder.of(pipeline, mode, open_store)
    control = recorder.watching(control)
    recorder.start()
    try:
        stats = run(control)
    except BaseException as exc:
        recorder.finish(None, Outcome.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    recorder.finish(stats, outcome_of(control, None))
    return stats


class Recorder:
    """Keeps one run's record in the target: at start, every `period` seconds, and at its end."""

    def __init__(self, run: Run, open_store: Callable[[ExitStack], Store], period: float = RECORD_SECONDS) -> None:
        self._run = run
        self._open_store = open_store
        self._period = period
        self._latest: RunStats | None = None
        self._done = threading.Event()
        self._final: tuple[Outcome, str | None] | None = None
        self._thread = threading.Thread(target=self._loop, name="graphsync-history", daemon=True)

    @classmethod
    def of(cls, pipeline: str, mode: str, open_store: Callable[[ExitStack], Store]) -> Recorder:
        return cls(Run(pipeline, mode, host(), datetime.now(UTC), logs.new_id()), open_store)

    def watching(self, control: RunControl) -> RunControl:
        """`control`, with its batch callback also keeping the newest stats for the record."""
        then = control.on_batch

        def on_batch(stats: RunStats) -> None:
            self._latest = stats
            if then is not None:
                then(stats)

        return replace(control, on_batch=on_batch)

    def start(self) -> None:
        self._thread.start()

    def finish(self, stats: RunStats | None, outcome: Outcome, error: str | None = None) -> None:
        """Record the end, waiting at most FINAL_WAIT_SECONDS for a target that may not answer."""
        self._latest = stats or self._latest
        self._final = (outcome, error)
        self._done.set()
        self._thread.join(FINAL_WAIT_SECONDS)

    def _loop(self) -> None:
        # The connection of the last write that worked; one that failed is closed, and the next write opens
        # another (a long outage must not pile up a driver per period).
        opened: list[tuple[ExitStack, Store]] = []

        def write(outcome: Outcome, error: str | None) -> None:
            try:
                if not opened:
                    stack = ExitStack()
                    opened.append((stack, self._open_store(stack)))
                self._write(opened[0][1], outcome, error)
            except Exception as exc:  # noqa: BLE001 - a record is never worth a run: tried again next period
                log.warning("the run's history record was not written: %s", exc)
                close()

        def close() -> None:
            while opened:
                with contextlib.suppress(Exception):
                    opened.pop()[0].close()

        try:
            write(Outcome.RUNNING, None)
            while not self._done.wait(self._period):
                write(Outcome.RUNNING, None)
            if self._final is not None:
                write(*self._final)
        finally:
            close()

    def _write(self, store: Store, outcome: Outcome, error: str | None) -> None:
        run = self._run
        summary = self._latest.summary() if self._latest is not None else {}
        store.write(RECORD, {"id": run.id, "run": record_of(run, datetime.now(UTC), summary, outcome, error)})
        if outcome is not Outcome.RUNNING:
            store.write(PRUNE, {"pipeline": run.pipeline, "keep": KEEP})
