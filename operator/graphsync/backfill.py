"""Running a pipeline's backfills beside its sync (what a backfill is: `graphsync.spec.backfill`).

Which backfills are done is kept in the target (`GraphsyncBackfill` records beside the run records; for
FalkorDB in `<graph>__graphsync_audit`), so a restarted worker, a rollout or a scheduled run's next pod runs
only those not yet done. Each runs as a repair-reconciliation, audited like any (`graphsync history` lists it;
its record names it). A backfill that failed (a side out of reach) is tried again after a pause; one the run's
stop interrupted is begun again by the next run, which costs reads only for what it had already written.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from graphsync.connectors import cypher
from graphsync.connectors.graphs.reading import Store
from graphsync.reconcile import audit
from graphsync.reconcile.pipeline import audit_store, reconcile
from graphsync.reconcile.report import Outcome, Report
from graphsync.runner.retry import Backoff, Interrupted
from graphsync.spec.backfill import Backfill
from graphsync.spec.pipeline import PipelineSpec

log = logging.getLogger(__name__)

_LABEL = cypher.labels(["GraphsyncBackfill"])
RECORD = cypher.render(audit.RECORD_TEMPLATE, label=_LABEL)
LIST = cypher.render(audit.LIST_TEMPLATE, label=_LABEL)
# How often a running backfill's progress is handed to the run's watcher.
PROGRESS_SECONDS = 2.0
# How often the backfills ask whether they may begin (`ready`).
READY_POLL_SECONDS = 0.5
# Records read per pipeline: far more than a spec declares at once.
RECORDS_READ = 1000


class Phase(enum.StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    # Every difference in scope written (or none found).
    COMPLETED = "Completed"
    # Done, but the target refused some writes: its record and the audit name them.
    PARTIAL = "Partial"
    # Ended by an error (a side out of reach): tried again after a pause.
    FAILED = "Failed"


DONE = (Phase.COMPLETED, Phase.PARTIAL)


@dataclass
class Progress:
    """One backfill as the status shows it."""

    name: str
    phase: Phase = Phase.PENDING
    entities: list[str] = field(default_factory=list)
    # Source entities read, and of them written again because the target differed.
    compared: int = 0
    written: int = 0
    failed: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    # The reconciliation run that carried it out (its audit record, in graphsync history).
    run: str | None = None

    def summary(self) -> dict[str, Any]:
        shown = {
            "name": self.name,
            "phase": self.phase.value,
            "entities": list(self.entities),
            "compared": self.compared,
            "written": self.written,
            "failed": self.failed,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "error": self.error,
            "run": self.run,
        }
        return {key: value for key, value in shown.items() if value is not None}


def progress_of(name: str, report: Report) -> Progress:
    """A backfill's progress from the repair carrying it out, live or ended (pure)."""
    summary = report.summary()
    return Progress(
        name=name,
        phase=phase_of(report.outcome),
        entities=[entity.entity for entity in report.entities],
        compared=int(summary["compared"]),
        written=int(summary["repaired"]),
        failed=int(summary["failed"]),
        started_at=summary["startedAt"],
        finished_at=summary["finishedAt"],
        error=summary["error"],
        run=report.id,
    )


def phase_of(outcome: Outcome) -> Phase:
    if outcome is Outcome.RUNNING:
        return Phase.RUNNING
    if outcome is Outcome.FAILED:
        return Phase.FAILED
    return Phase.PARTIAL if outcome is Outcome.PARTIAL else Phase.COMPLETED


def from_record(row: Mapping[str, Any]) -> Progress:
    """A stored record as progress (pure); a record cut short by its process's end reads as pending again."""
    phase = Phase(str(row.get("phase", Phase.PENDING)))
    return Progress(
        name=str(row["name"]),
        phase=phase if phase in DONE or phase is Phase.FAILED else Phase.PENDING,
        entities=[str(entity) for entity in row.get("entities") or []],
        compared=int(row.get("compared") or 0),
        written=int(row.get("written") or 0),
        failed=int(row.get("failed") or 0),
        started_at=row.get("startedAt"),
        finished_at=row.get("finishedAt"),
        error=row.get("error"),
        run=row.get("run"),
    )


def pending(backfills: Iterable[Backfill], known: Mapping[str, Progress]) -> list[Backfill]:
    """The backfills still to run, in the spec's order (pure)."""
    return [backfill for backfill in backfills if known.get(backfill.name, Progress(backfill.name)).phase not in DONE]


def records(store: Store, pipeline: str) -> dict[str, Progress]:
    """The pipeline's backfills as its target's records say, by name."""
    [[rows]] = store.read(LIST, {"pipeline": pipeline, "limit": RECORDS_READ})
    return {str(row["name"]): from_record(row) for row in rows}


def record_id(pipeline: str, name: str) -> str:
    return f"{pipeline}:{name}"


class Backfills:
    """The backfills of one run, carried out one after another in a thread of their own."""

    def __init__(
        self,
        spec: PipelineSpec,
        stop: threading.Event,
        on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
        *,
        open_store: Callable[[ExitStack], Store] | None = None,
        declared: tuple[Backfill, ...] | None = None,
        ready: Callable[[], bool] | None = None,
    ) -> None:
        """`declared`: the backfills to carry out, the spec's when not given; `ready`: asked until true before
        the first is begun."""
        self._ready = ready
        self._spec = spec
        self._declared = spec.backfills if declared is None else declared
        self._stop = stop
        self._on_progress = on_progress
        self._open_store = open_store or (lambda stack: audit_store(spec, stack))
        self._lock = threading.Lock()
        self._known: dict[str, Progress] = {backfill.name: Progress(backfill.name) for backfill in self._declared}
        self._live: tuple[str, Report] | None = None
        self._thread = threading.Thread(target=self._loop, name="backfills", daemon=True)

    def start(self) -> Backfills:
        self._thread.start()
        return self

    def finish(self, stop: threading.Event) -> None:
        """Wait until every backfill is done (a run that ended by itself: to idle, a snapshot), or `stop`."""
        while self._thread.is_alive() and not stop.wait(0.2):
            pass

    def progress(self) -> list[dict[str, Any]]:
        """Every declared backfill in the spec's order, the running one with its live counts."""
        with self._lock:
            known = dict(self._known)
            live = self._live
        if live is not None:
            known[live[0]] = progress_of(*live)
        return [known[backfill.name].summary() for backfill in self._declared]

    def run_all(self) -> None:
        """Carry out every backfill not yet done; returns when all are, or on stop."""
        backoff = Backoff()
        attempt = 0
        while self._ready is not None and not self._stop.wait(READY_POLL_SECONDS):
            try:
                if self._ready():
                    break
            except Exception as exc:  # noqa: BLE001 - the source is out of reach: asked again
                log.debug("backfills: waiting: %s", exc)
        while not self._stop.is_set():
            try:
                self._read_records()
                todo = pending(self._declared, self._known)
                if not todo:
                    self._tell()
                    return
                for backfill in todo:
                    if self._stop.is_set():
                        return
                    self._one(backfill)
                attempt = 0 if all(self._known[b.name].phase in DONE for b in todo) else attempt + 1
            except Exception as exc:  # noqa: BLE001 - the sync goes on; the backfill is tried again
                log.warning("backfills: %s: %s (tried again)", type(exc).__name__, exc)
                attempt += 1
            if attempt:
                try:
                    backoff.wait(attempt - 1, self._stop)
                except Interrupted:
                    return

    def _loop(self) -> None:
        ticker = threading.Thread(target=self._ticking, name="backfill-progress", daemon=True)
        ticker.start()
        try:
            self.run_all()
        finally:
            self._tell()

    def _ticking(self) -> None:
        while self._thread.is_alive() and not self._stop.wait(PROGRESS_SECONDS):
            self._tell()

    def _tell(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress())

    def _read_records(self) -> None:
        with ExitStack() as stack:
            found = records(self._open_store(stack), self._spec.identity)
        with self._lock:
            for name in self._known:
                if name in found:
                    self._known[name] = found[name]

    def _one(self, backfill: Backfill) -> None:
        log.info("backfill %s: writing %s again from the source", backfill.name, ", ".join(backfill.entities) or "all")
        job = backfill.job()
        report = Report(self._spec.identity, job)
        with self._lock:
            self._live = (backfill.name, report)
        self._tell()
        try:
            reconcile(self._spec, job, self._stop, report=report)
        finally:
            with self._lock:
                self._live = None
        done = progress_of(backfill.name, report)
        with self._lock:
            self._known[backfill.name] = done
        self._tell()
        if self._stop.is_set() and done.phase is Phase.FAILED:
            # Interrupted, not failed: the next run begins it again.
            return
        with ExitStack() as stack:
            record = {"pipeline": self._spec.identity, **done.summary()}
            self._open_store(stack).write(RECORD, {"id": record_id(self._spec.identity, backfill.name), "run": record})
        log.info(
            "backfill %s: %s, %d compared, %d written, %d refused",
            backfill.name,
            done.phase.value,
            done.compared,
            done.written,
            done.failed,
        )
