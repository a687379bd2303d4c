"""The worker's reporter: what state a run is in, its report, and the thread that patches it into the Lease.

The decisions are pure functions of plain data (`Snapshot`, `Ending`, times), so they are
tested without threads, databases or an API server. The `Reporter` only wires them to the
clock: it ticks about once a second, keeps the newest report for the health server, and
hands a report to a sender thread on each heartbeat and, promptly, on a change of state.
The patch runs in a thread of its own, so an API server that hangs never stalls the
ticks (nor the liveness they prove), and a patch that fails is only logged: it is tried
again on the next heartbeat and never stops the sync.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from graphsync.runner.stats import RunStats, lag_seconds
from graphsync_operator import kube, reports
from graphsync_operator.api.pods import STUCK_SECONDS
from graphsync_operator.api.status import BackfillStatus, CheckpointResetStatus, SchemaChangeStatus
from graphsync_operator.reports import WorkerReport, WorkerState
from graphsync_operator.worker.readings import Snapshot, combined, snapshot_of

log = logging.getLogger(__name__)

# A change of state is reported promptly, but at most this often.
MIN_GAP_SECONDS = 1.0
# How long a final report may take, in attempts and seconds between them (a pod has its grace period).
FINAL_ATTEMPTS = 3
FINAL_PAUSE_SECONDS = 1.0
MAX_ERROR = 1024

Send = Callable[[WorkerReport], None]
# (synced, failed) of this pod's earlier containers.
Carried = tuple[int, int]


@dataclass(frozen=True)
class Ending:
    """How a run ended: finished (including on SIGTERM) or failed, with the reason."""

    state: WorkerState
    error: str | None = None


@dataclass(frozen=True)
class Attempt:
    """The last report handed to the sender: when, and in what state."""

    at: float
    state: WorkerState


def state_of(  # noqa: PLR0911 - one answer per state
    snapshot: Snapshot | None, ending: Ending | None, *, now: float | None = None, stuck_after: float = STUCK_SECONDS
) -> WorkerState:
    """Retrying while the newest retry is later than the last sign of progress: a side is unreachable.
    Stuck when the run's loops have not come back for `stuck_after` seconds."""
    if ending is not None:
        return ending.state
    if snapshot is None:
        return WorkerState.STARTING
    if now is not None and snapshot.alive_at is not None and now - snapshot.alive_at > stuck_after:
        return WorkerState.STUCK
    if snapshot.relay_failing:
        return WorkerState.RETRYING
    if snapshot.last_retry_at is not None and (
        snapshot.progressed_at is None or snapshot.last_retry_at > snapshot.progressed_at
    ):
        return WorkerState.RETRYING
    if snapshot.progressed_at is None:
        return WorkerState.STARTING
    return WorkerState.RUNNING


def report_of(
    *,
    pod: str,
    started_at: datetime,
    now: float,
    snapshot: Snapshot | None,
    ending: Ending | None = None,
    reconciliation: reports.Reconciliation | None = None,
    carried: Carried = (0, 0),
    config_hash: str | None = None,
    stuck_after: float = STUCK_SECONDS,
) -> WorkerReport:
    """The report a pod patches into its annotation of the pipeline's Lease.

    `carried` holds what this pod's earlier containers reported (a restarted container
    keeps its pod name and so its annotation), so the counts go on instead of restarting.
    """
    state = state_of(snapshot, ending, now=now, stuck_after=stuck_after)
    seen = snapshot or Snapshot()
    error = ending.error if ending is not None else seen.error if state is WorkerState.RETRYING else None
    if state is WorkerState.STUCK and seen.alive_at is not None:
        error = f"no read or write has come back for {now - seen.alive_at:.0f}s"
    lag = lag_seconds(seen.caught_up_at, caught_up=seen.caught_up, now=now)
    return WorkerReport(
        pod=pod,
        started_at=started_at,
        heartbeat=_moment(now),
        state=state,
        synced=carried[0] + seen.synced,
        failed=carried[1] + seen.failed,
        retries=seen.retries,
        lag_seconds=round(lag, 3) if lag is not None else None,
        checkpoint=seen.checkpoint,
        last_sync_time=_moment(seen.last_sync_at) if seen.last_sync_at is not None else None,
        last_failed_time=_moment(seen.last_failed_at) if seen.last_failed_at is not None else None,
        error=_clip(error),
        open_conflicts=seen.open_conflicts,
        reconciliation=reconciliation,
        config_hash=config_hash,
        source_backlog_bytes=seen.source_backlog_bytes,
        source_backlog_limit_bytes=seen.source_backlog_limit_bytes,
        backfills=[BackfillStatus.model_validate(item) for item in seen.backfills],
        checkpoint_resets=[CheckpointResetStatus.model_validate(item) for item in seen.checkpoint_resets],
        schema_changes=[SchemaChangeStatus.model_validate(item) for item in seen.schema_changes],
    )


def due(now: float, last: Attempt | None, state: WorkerState, interval: float) -> bool:
    """Report on every heartbeat, and on a change of state as soon as MIN_GAP_SECONDS allows."""
    if last is None:
        return True
    elapsed = now - last.at
    return elapsed >= interval or (state is not last.state and elapsed >= MIN_GAP_SECONDS)


def carried_over(annotations: Mapping[str, str] | None, pod: str) -> Carried:
    """What a previous container of this pod last reported (nothing for a new pod)."""
    found = (annotations or {}).get(reports.annotation_key(pod))
    if found is None:
        return (0, 0)
    try:
        earlier = WorkerReport.model_validate_json(found)
    except ValueError:
        return (0, 0)
    return (earlier.synced, earlier.failed) if earlier.pod == pod else (0, 0)


def lease_sender(client: kube.Kube, *, namespace: str, lease: str, pod: str) -> Send:
    """Patch only this pod's annotation (a JSON merge patch), so replicas never overwrite one another."""
    key = reports.annotation_key(pod)

    def send(report: WorkerReport) -> None:
        values = {key: report.model_dump_json(by_alias=True)}
        client.patch_annotations("coordination.k8s.io/v1", "Lease", namespace, lease, values)

    return send


class Tracker:
    """The `on_batch` callback of a run: holds its live stats, one object per phase (a snapshot, then a stream).

    The engine calls it once as each phase starts and after every batch; earlier phases are
    frozen when the next one begins, so their totals carry over.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._earlier: list[Snapshot] = []
        self._current: RunStats | None = None
        self._notified_at: float | None = None
        self._backfills: tuple[Mapping[str, Any], ...] = ()
        self._resets: tuple[Mapping[str, Any], ...] = ()
        self._schema: tuple[Mapping[str, Any], ...] = ()

    def __call__(self, stats: RunStats) -> None:
        with self._lock:
            if stats is not self._current:
                if self._current is not None:
                    self._earlier.append(snapshot_of(self._current, notified_at=self._notified_at))
                self._current = stats
            self._notified_at = time.time()

    def settle(self, stats: RunStats) -> None:
        """The run returned: its stats hold every phase (the engine folds them together)."""
        with self._lock:
            self._earlier.clear()
            self._current = stats

    def backfills(self, items: list[dict[str, Any]]) -> None:
        """The run's `on_backfills` callback."""
        with self._lock:
            self._backfills = tuple(items)

    def checkpoint_resets(self, items: list[dict[str, Any]]) -> None:
        """The run's `on_resets` callback."""
        with self._lock:
            self._resets = tuple(items)

    def schema_changes(self, items: list[dict[str, Any]]) -> None:
        """The run's `on_schema` callback."""
        with self._lock:
            self._schema = tuple(items)

    def snapshot(self) -> Snapshot | None:
        with self._lock:
            told = Snapshot(backfills=self._backfills, checkpoint_resets=self._resets, schema_changes=self._schema)
            if self._current is None:
                # Before the first batch (resets applied, a schema stop): what the run told already shows.
                return told if told.backfills or told.checkpoint_resets or told.schema_changes else None
            seen = combined([*self._earlier, snapshot_of(self._current, notified_at=self._notified_at)])
            if seen is None:
                return None
            return replace(
                seen,
                backfills=told.backfills,
                checkpoint_resets=told.checkpoint_resets,
                schema_changes=told.schema_changes,
            )


class Reporter:
    """Ticks about once a second: builds the report, keeps it for the health server, sends it when due."""

    def __init__(
        self,
        *,
        pod: str,
        interval: float,
        progress: Callable[[], Snapshot | None],
        stuck_after: float = STUCK_SECONDS,
        send: Send | None = None,
        carried: Carried = (0, 0),
        config_hash: str | None = None,
    ) -> None:
        self.pod = pod
        self.interval = interval
        self._stuck_after = stuck_after
        self.started_at = datetime.now(UTC)
        # A run that ends by itself (--until-idle, a snapshot, a reconciliation): finished counts as ready.
        self.one_shot = False
        self._progress = progress
        self._send = send
        self._carried = carried
        self._config_hash = config_hash
        self._stop = threading.Event()
        self._pending = threading.Condition()
        self._outbox: WorkerReport | None = None
        self._last: Attempt | None = None
        self._ticker = threading.Thread(target=self._tick_loop, name="heartbeat", daemon=True)
        self._sender = threading.Thread(target=self._send_loop, name="lease-report", daemon=True)
        now = time.time()
        self.latest = report_of(
            pod=pod, started_at=self.started_at, now=now, snapshot=None, carried=carried, config_hash=config_hash
        )
        self.ticked_at = now

    def start(self) -> None:
        self._ticker.start()
        if self._send is not None:
            self._sender.start()

    def tick(self) -> WorkerReport:
        now = time.time()
        report = report_of(
            pod=self.pod,
            started_at=self.started_at,
            now=now,
            snapshot=self._progress(),
            carried=self._carried,
            config_hash=self._config_hash,
            stuck_after=self._stuck_after,
        )
        if report.state is not self.latest.state:
            log.info("state %s -> %s%s", self.latest.state, report.state, f": {report.error}" if report.error else "")
        self.latest, self.ticked_at = report, now
        if self._send is not None and due(now, self._last, report.state, self.interval):
            self._last = Attempt(now, report.state)
            with self._pending:
                self._outbox = report
                self._pending.notify()
        return report

    def finish(self, ending: Ending, *, reconciliation: reports.Reconciliation | None = None) -> WorkerReport:
        """Stop ticking and send the final report, after any report still in flight."""
        self._stop.set()
        with self._pending:
            self._outbox = None
            self._pending.notify()
        if self._ticker.is_alive():
            self._ticker.join(timeout=5)
        now = time.time()
        report = report_of(
            pod=self.pod,
            started_at=self.started_at,
            now=now,
            snapshot=self._progress(),
            ending=ending,
            reconciliation=reconciliation,
            carried=self._carried,
            config_hash=self._config_hash,
        )
        log.info("state %s -> %s%s", self.latest.state, report.state, f": {report.error}" if report.error else "")
        self.latest, self.ticked_at = report, now
        if self._send is not None:
            if self._sender.is_alive():
                self._sender.join(timeout=5)
            for attempt in range(FINAL_ATTEMPTS):
                if attempt:
                    time.sleep(FINAL_PAUSE_SECONDS)
                if self._deliver(report):
                    break
        return report

    @property
    def finished(self) -> bool:
        return self._stop.is_set()

    def _tick_loop(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("building the progress report failed")
            if self._stop.wait(min(MIN_GAP_SECONDS, self.interval)):
                return

    def _send_loop(self) -> None:
        while True:
            with self._pending:
                while self._outbox is None and not self._stop.is_set():
                    self._pending.wait()
                report, self._outbox = self._outbox, None
            if report is None:
                return
            self._deliver(report)

    def _deliver(self, report: WorkerReport) -> bool:
        assert self._send is not None
        try:
            self._send(report)
        except Exception as exc:  # noqa: BLE001 - API down, forbidden: tried again on the next heartbeat
            log.warning("could not report progress (state %s) to the Lease: %s", report.state, exc)
            return False
        return True


def _moment(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _clip(text: str | None) -> str | None:
    if text is None or len(text) <= MAX_ERROR:
        return text
    return text[: MAX_ERROR - 1] + "…"
