"""The worker's HTTP endpoints for the kubelet and Prometheus: /healthz, /readyz, /metrics (and, for the plugin,
the read-only /deadletters and /conflicts of `inspection`).

Each answer is decided by a pure function of the reporter's newest report (and, for the
metrics, the run's live snapshot), so probes and scrapes cost no database round trip and
never block the sync; the one figure that needs a query, the dead-letter store's size, is
read in the background at most every DEAD_LETTERS_SECONDS. Labels are bounded: `pipeline`
(one per worker), `component` (the worker's subcommand), `outcome`, `direction` and
`dependency` from fixed sets, never an entity key or an error's text. Which pod and
namespace a series belongs to comes from the scrape target's labels.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from graphsync.runner.stats import COMPONENTS, DIRECTIONS, Histogram
from graphsync_operator.metrics import build_info
from graphsync_operator.reports import MISSED_BEATS, WorkerReport, WorkerState
from graphsync_operator.worker.heartbeat import Reporter
from graphsync_operator.worker.readings import Snapshot

log = logging.getLogger(__name__)
# How often the dead-letter store is counted: a query per scrape would load the database with every scraper.
DEAD_LETTERS_SECONDS = 30.0
FIRST_COUNT_SECONDS = 5.0
OUTCOMES = ("created", "updated", "deleted", "stale", "failed")
# The worker's subcommands, what every series' `component` label says; a value outside a fixed set reads `other`.
SYNC, RECONCILE, CLEANUP, OTHER = "sync", "reconcile", "cleanup", "other"
WORKER_COMPONENTS = (SYNC, RECONCILE, CLEANUP)
OWN_LABELS = ["pipeline", "component"]


def liveness(ticked_at: float, *, now: float, interval: float, state: WorkerState | None = None) -> tuple[bool, str]:
    """Alive while the reporter keeps ticking and the run's loops keep coming back; a kubelet restarts it otherwise."""
    silent = now - ticked_at
    if silent > MISSED_BEATS * interval:
        return False, f"no heartbeat for {silent:.0f}s"
    if state is WorkerState.STUCK:
        return False, "stuck: no read or write has come back"
    return True, "alive"


# Not ready, with the error of the report when it has one, else what the state means.
_UNREADY = {
    WorkerState.RETRYING: "a source or target is unreachable",
    WorkerState.FAILED: "the run ended with an error",
    WorkerState.STUCK: "no read or write has come back",
}


def readiness(report: WorkerReport, *, one_shot: bool) -> tuple[bool, str]:
    """Ready while running with source and target reachable; the reason, when not, is what an operator reads."""
    state = report.state
    if state is WorkerState.RUNNING:
        return True, "running"
    if state is WorkerState.FINISHED and one_shot:
        return True, "finished"
    if state in _UNREADY:
        return False, f"{state.value}: {report.error or _UNREADY[state]}"
    if state is WorkerState.STARTING:
        return False, "starting: nothing read from the source yet"
    return False, "finished: shutting down"


def families(
    report: WorkerReport,
    *,
    up: bool,
    pipeline: str = "",
    component: str = SYNC,
    snapshot: Snapshot | None = None,
    dead_letters: int | None = None,
) -> list[Metric]:
    """The worker's metrics from one report and the run's snapshot; a value not known yet (lag, last sync,
    the dead-letter count) is left out. Counters count since this container started. Every series carries
    `pipeline` and `component` (the worker's subcommand: sync, reconcile or cleanup)."""
    seen = snapshot or Snapshot()
    ours = [pipeline, bounded(component, WORKER_COMPONENTS)]
    events = CounterMetricFamily(
        "graphsync_events",
        "Change events read from the source (read), and of them those it could not decode (rejected: "
        "dead-lettered before applying).",
        labels=[*OWN_LABELS, "outcome"],
    )
    events.add_metric([*ours, "read"], seen.read)
    events.add_metric([*ours, "rejected"], seen.rejected)
    items = CounterMetricFamily(
        "graphsync_items",
        "Items by outcome: created, updated, deleted (synced), stale (the target held a newer version), failed "
        "(dead-lettered).",
        labels=[*OWN_LABELS, "outcome"],
    )
    counts = (seen.created, seen.updated, seen.deleted, seen.stale, seen.failed)
    for outcome, count in zip(OUTCOMES, counts, strict=True):
        items.add_metric([*ours, outcome], count)
    two_way = CounterMetricFamily(
        "graphsync_two_way_writes",
        "A bidirectional pipeline's writes by direction: to_target, to_source, resolved (a conflict's winner "
        "written to both sides); 0 for the other pipelines.",
        labels=[*OWN_LABELS, "direction"],
    )
    written = dict(seen.two_way_writes)
    for direction in DIRECTIONS:
        two_way.add_metric([*ours, direction], written.get(direction, 0))
    retries = CounterMetricFamily(
        "graphsync_retries",
        "Transient errors retried, by the dependency waited for: source, target or dead_letters (the store).",
        labels=[*OWN_LABELS, "dependency"],
    )
    for dependency, count in sorted(bounded_counts(seen.retries_by, COMPONENTS).items()):
        retries.add_metric([*ours, dependency], count)
    latency = _histogram("graphsync_batch_duration_seconds", BATCH_SECONDS, ours, seen.batch_seconds)
    visible = _histogram("graphsync_commit_to_visible_seconds", VISIBLE, ours, seen.visible_seconds)
    batches = CounterMetricFamily("graphsync_batches", "Batches applied to the target.", labels=OWN_LABELS)
    batches.add_metric(ours, seen.batches)
    found: list[Metric] = [events, items, two_way, batches, latency, visible, retries]
    found.append(_gauge("graphsync_backlog_events", BACKLOG, ours, seen.unapplied))
    found.extend(_gauges(report, ours, dead_letters))
    found.append(_gauge("graphsync_worker_up", WORKER_UP, ours, 1.0 if up else 0.0))
    found.append(build_info(dict(zip(OWN_LABELS, ours, strict=True))))
    return found


def bounded(value: str, allowed: tuple[str, ...]) -> str:
    """A label value from a fixed set: one outside it is `other`, so no caller can grow a metric's series."""
    return value if value in allowed else OTHER


def bounded_counts(counts: Iterable[tuple[str, int]], allowed: tuple[str, ...]) -> dict[str, int]:
    """Counts by name, every allowed name present (0 when not counted); the others added up under `other`."""
    found = dict.fromkeys(allowed, 0)
    for name, count in counts:
        key = bounded(name, allowed)
        found[key] = found.get(key, 0) + count
    return found


BATCH_SECONDS = "How long applying a batch to the target took, retries included."
VISIBLE = (
    "Per change, the seconds from its transaction's commit in the source to the target's commit of it "
    "(capture logical; no observations for the other sources)."
)
WORKER_UP = "1 while the worker runs with its source and target reachable (what /readyz says), else 0."
LAG = "Seconds since the worker last had nothing left to sync; 0 while it keeps up."
LAST_SYNC = "When the worker last applied a batch, in seconds since the epoch."
DEAD_LETTERS = "Records in the pipeline's dead-letter store not replayed yet (read every 30 s)."
OPEN_CONFLICTS = "Conflicts held for manual review (bidirectional pipelines; 0 for the others)."
BACKLOG = (
    "Change events the worker has read from the source and not yet applied (queued or being written); what the "
    "source still holds shows as the slot's WAL bytes (capture logical) and as the lag."
)
SOURCE_BACKLOG = "Capture logical: bytes of WAL the pipeline's replication slot keeps PostgreSQL from recycling."


def _gauges(report: WorkerReport, ours: list[str], dead_letters: int | None) -> list[Metric]:
    values = (
        ("graphsync_lag_seconds", LAG, report.lag_seconds),
        (
            "graphsync_last_sync_timestamp_seconds",
            LAST_SYNC,
            report.last_sync_time.timestamp() if report.last_sync_time is not None else None,
        ),
        ("graphsync_dead_letters", DEAD_LETTERS, dead_letters),
        # A one-way pipeline has none: 0, so a dashboard's sum over pipelines needs no special case.
        ("graphsync_open_conflicts", OPEN_CONFLICTS, report.open_conflicts or 0),
        ("graphsync_source_backlog_bytes", SOURCE_BACKLOG, report.source_backlog_bytes),
    )
    return [_gauge(name, text, ours, value) for name, text, value in values if value is not None]


def _histogram(name: str, text: str, ours: list[str], histogram: Histogram) -> Metric:
    family = HistogramMetricFamily(name, text, labels=OWN_LABELS)
    buckets = [(_bound(bound), float(count)) for bound, count in histogram.cumulative()]
    family.add_metric(ours, buckets, sum_value=histogram.total)
    return family


def _gauge(name: str, text: str, ours: list[str], value: float) -> Metric:
    family = GaugeMetricFamily(name, text, labels=OWN_LABELS)
    family.add_metric(ours, value)
    return family


def _bound(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


@dataclass
class Extras:
    """What the metrics read besides the reporter's report, filled in once the worker has read its spec."""

    pipeline: str = ""
    # The worker's subcommand (sync, reconcile, cleanup).
    component: str = SYNC
    snapshot: Callable[[], Snapshot | None] = lambda: None
    dead_letters: Callable[[], int | None] = lambda: None
    # Read-only answers about the pipeline's stores (`inspection`): a GET target to (status, JSON), or None.
    inspect: Callable[[str], tuple[int, bytes] | None] = lambda _target: None


class DeadLetterCount:
    """The dead-letter store's size, counted in a daemon thread every `interval` seconds; a count that fails keeps
    the previous one (the store's database being down shows in the retries and readiness already)."""

    def __init__(self, count: Callable[[], int | None], interval: float = DEAD_LETTERS_SECONDS) -> None:
        self._count = count
        self._interval = interval
        self._stop = threading.Event()
        self.value: int | None = None
        self._thread = threading.Thread(target=self._loop, name="dead-letter-count", daemon=True)

    def start(self) -> DeadLetterCount:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def __call__(self) -> int | None:
        return self.value

    def refresh(self) -> None:
        try:
            self.value = self._count()
        except Exception as exc:  # noqa: BLE001 - a metric, not the sync: tried again next time
            log.debug("counting the dead-letter store failed: %s", exc)

    def _loop(self) -> None:
        while True:
            self.refresh()
            # Until a first count succeeds (the store's table is made as the run prepares), ask again sooner.
            if self._stop.wait(self._interval if self.value is not None else min(self._interval, FIRST_COUNT_SECONDS)):
                return


class _Progress(Collector):
    def __init__(self, reporter: Reporter, extras: Extras) -> None:
        self._reporter = reporter
        self._extras = extras

    def collect(self) -> Iterable[Metric]:
        report = self._reporter.latest
        ready, _ = readiness(report, one_shot=self._reporter.one_shot)
        extras = self._extras
        return families(
            report,
            up=ready,
            pipeline=extras.pipeline,
            component=extras.component,
            snapshot=extras.snapshot(),
            dead_letters=extras.dead_letters(),
        )


class HealthServer:
    """A stdlib HTTP server in a daemon thread; binding fails loudly (OSError) when the port is taken."""

    def __init__(self, port: int, reporter: Reporter, extras: Extras | None = None) -> None:
        self.extras = extras or Extras()
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Progress(reporter, self.extras))
        # All interfaces: the kubelet probes and Prometheus scrapes the pod's IP.
        self._server = _Server(("0.0.0.0", port), _Handler)  # noqa: S104
        self._server.reporter = reporter
        self._server.registry = registry
        self._server.extras = self.extras
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
        self._server.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    reporter: Reporter
    registry: CollectorRegistry
    extras: Extras


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        server = cast(_Server, self.server)
        reporter = server.reporter
        path = self.path.split("?", 1)[0]
        if path == "/healthz":
            ok, text = liveness(
                reporter.ticked_at, now=time.time(), interval=reporter.interval, state=reporter.latest.state
            )
            self._answer(200 if ok else 503, text.encode() + b"\n", "text/plain; charset=utf-8")
        elif path == "/readyz":
            ok, text = readiness(reporter.latest, one_shot=reporter.one_shot)
            self._answer(200 if ok else 503, text.encode() + b"\n", "text/plain; charset=utf-8")
        elif path == "/metrics":
            encode, content_type = choose_encoder(self.headers.get("Accept", ""))
            self._answer(200, encode(server.registry), content_type)
        elif (inspected := server.extras.inspect(self.path)) is not None:
            self._answer(*inspected, "application/json")
        else:
            self._answer(404, b"not found: try /healthz, /readyz or /metrics\n", "text/plain; charset=utf-8")

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Probes every few seconds would flood the log at INFO.
        log.debug("%s %s", self.address_string(), format % args)
