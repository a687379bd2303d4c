"""The worker's HTTP endpoints for the kubelet and Prometheus: /healthz, /readyz, /metrics.

Each answer is decided by a pure function of the reporter's newest report, so probes and
scrapes cost no database round trip and never block the sync. Metric labels are bounded
(only `outcome`): which pipeline and pod a series belongs to comes from the scrape
target's labels, not from the worker.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from graphsync_operator.heartbeat import Reporter
from graphsync_operator.progress import MISSED_BEATS, WorkerReport, WorkerState

log = logging.getLogger(__name__)


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


def families(report: WorkerReport, *, up: bool) -> list[Metric]:
    """The worker's metrics from one report; a value not known yet (lag, last sync) is left out."""
    items = CounterMetricFamily(
        "graphsync_items", "Items synced or failed (dead-lettered) since the worker started.", labels=["outcome"]
    )
    items.add_metric(["synced"], report.synced)
    items.add_metric(["failed"], report.failed)
    found: list[Metric] = [
        items,
        CounterMetricFamily(
            "graphsync_retries", "Transient errors retried since the worker started.", value=report.retries
        ),
    ]
    if report.lag_seconds is not None:
        found.append(
            GaugeMetricFamily(
                "graphsync_lag_seconds",
                "Seconds since the worker last had nothing left to sync; 0 while it keeps up.",
                value=report.lag_seconds,
            )
        )
    if report.last_sync_time is not None:
        found.append(
            GaugeMetricFamily(
                "graphsync_last_sync_timestamp_seconds",
                "When the worker last applied a batch, in seconds since the epoch.",
                value=report.last_sync_time.timestamp(),
            )
        )
    found.append(
        GaugeMetricFamily(
            "graphsync_worker_up",
            "1 while the worker runs with its source and target reachable (what /readyz says), else 0.",
            value=1.0 if up else 0.0,
        )
    )
    return found


class _Progress(Collector):
    def __init__(self, reporter: Reporter) -> None:
        self._reporter = reporter

    def collect(self) -> Iterable[Metric]:
        report = self._reporter.latest
        ready, _ = readiness(report, one_shot=self._reporter.one_shot)
        return families(report, up=ready)


class HealthServer:
    """A stdlib HTTP server in a daemon thread; binding fails loudly (OSError) when the port is taken."""

    def __init__(self, port: int, reporter: Reporter) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Progress(reporter))
        # All interfaces: the kubelet probes and Prometheus scrapes the pod's IP.
        self._server = _Server(("0.0.0.0", port), _Handler)  # noqa: S104
        self._server.reporter = reporter
        self._server.registry = registry
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
