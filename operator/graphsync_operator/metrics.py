"""The operator's own metrics, on /metrics of `graphsync-operator run --metrics-port` (8080; 0 turns it off).

What the operator does (handler runs, API requests, status writes, Events) is counted where
it happens; what the cluster holds (resources by kind, phase and readiness, the newest
reconciliation of each pipeline) is computed by the status refresher from kopf's indexes
once per round and kept here, so a scrape reads memory and never the API server. Labels
are bounded: kinds, verbs, codes, outcomes and reasons come from fixed sets; only the
per-pipeline reconciliation figures name resources (as kube-state-metrics does, one series
per resource).
"""

from __future__ import annotations

import platform
import threading
from collections import Counter as Tally
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector, CollectorRegistry
from pydantic import Field

import graphsync
from graphsync_operator.api.status import Condition, LastReconciliation, StatusModel, condition


def build_info(labels: Mapping[str, str] | None = None) -> Metric:
    """`graphsync_build_info`: which release (and Python) a process runs, always 1, so a query can join on it
    and a rollout shows as the version changing. Served by the operator, and by every worker with its own
    `labels` (pipeline, component), as its other series."""
    own = dict(labels or {})
    info = GaugeMetricFamily(
        "graphsync_build_info",
        "The graphsync release and Python this process runs (always 1).",
        labels=[*own, "version", "python"],
    )
    info.add_metric([*own.values(), graphsync.__version__, platform.python_version()], 1)
    return info


class BuildInfo(Collector):
    def collect(self) -> Iterable[Metric]:
        return [build_info()]


REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
REGISTRY.register(BuildInfo())

API_REQUESTS = Counter(
    "graphsync_operator_api_requests",
    "Requests of the operator's API client, by verb, resource and HTTP status code (<error>: no answer).",
    ["verb", "resource", "code"],
    registry=REGISTRY,
)
HANDLER_RUNS = Counter(
    "graphsync_operator_handler_runs",
    "Handler invocations by kind, handler and outcome (success, retry, permanent_error, error).",
    ["kind", "handler", "outcome"],
    registry=REGISTRY,
)
HANDLER_SECONDS = Histogram(
    "graphsync_operator_handler_duration_seconds",
    "How long a handler invocation took.",
    ["kind", "handler"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
    registry=REGISTRY,
)
STATUS_WRITES = Counter(
    "graphsync_operator_status_writes",
    "Status writes of the operator's own client (the status refresher) by kind and result (written; conflict: "
    "the resource had changed, tried again next round).",
    ["kind", "result"],
    registry=REGISTRY,
)
STATUS_PATCHES = Counter(
    "graphsync_operator_handler_status_patches",
    "Status changes handlers left for kopf to write with its own patch of the resource, by kind and the "
    "handler's outcome (kopf applies the patch after the handler returned or raised; its write is kopf's).",
    ["kind", "outcome"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "graphsync_operator_events",
    "Kubernetes Events posted about graphsync resources, by type and reason.",
    ["type", "reason"],
    registry=REGISTRY,
)

# Outcomes of a handler run.
SUCCESS, RETRY, PERMANENT_ERROR, ERROR = "success", "retry", "permanent_error", "error"
RECONCILIATION_OUTCOMES = ("missing", "extra", "different")


@dataclass(frozen=True)
class Seen:
    """One resource as the refresher saw it this round: where it is and its status (plain data)."""

    kind: str
    namespace: str
    name: str
    status: Mapping[str, Any]


def census(resources: Iterable[Seen]) -> dict[tuple[str, str, str], int]:
    """(kind, phase, ready) -> how many resources: phase "" when the kind has none (ConflictPolicy),
    ready the status of the Ready condition (True, False, Unknown when there is none yet)."""
    counts: Tally[tuple[str, str, str]] = Tally()
    for seen in resources:
        ready = condition(_Conditions.model_validate(seen.status).conditions, "Ready")
        counts[(seen.kind, str(seen.status.get("phase") or ""), ready.status if ready else "Unknown")] += 1
    return dict(counts)


class _Conditions(StatusModel):
    """The conditions every kind's status has (its other fields ignored)."""

    conditions: list[Condition] = Field(default_factory=list)


def reconciliation_families(resources: Iterable[Seen]) -> list[Metric]:
    """The newest reconciliation of each SyncPipeline (status.lastReconciliation): differences found by kind,
    items repaired, and when it finished. The pipeline's namespace is `pipeline_namespace`: `namespace` is the
    scrape target's (the operator's), which Prometheus sets without needing honorLabels."""
    differences = GaugeMetricFamily(
        "graphsync_reconciliation_differences",
        "Differences the pipeline's newest reconciliation found, by outcome: missing (in the target), extra "
        "(only in the target), different.",
        labels=["pipeline_namespace", "pipeline", "outcome"],
    )
    repaired = GaugeMetricFamily(
        "graphsync_reconciliation_repaired",
        "Items the pipeline's newest reconciliation repaired.",
        labels=["pipeline_namespace", "pipeline"],
    )
    finished = GaugeMetricFamily(
        "graphsync_reconciliation_last_run_timestamp_seconds",
        "When the pipeline's newest reconciliation finished, in seconds since the epoch.",
        labels=["pipeline_namespace", "pipeline"],
    )
    for seen in resources:
        found = seen.status.get("lastReconciliation")
        if seen.kind != "SyncPipeline" or not found:
            continue
        last = LastReconciliation.model_validate(found)
        for outcome in RECONCILIATION_OUTCOMES:
            differences.add_metric([seen.namespace, seen.name, outcome], getattr(last, outcome))
        repaired.add_metric([seen.namespace, seen.name], last.repaired)
        if last.finished_at is not None:
            finished.add_metric([seen.namespace, seen.name], last.finished_at.timestamp())
    return [differences, repaired, finished]


class Cluster(Collector):
    """What the refresher saw in its last round, as gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: list[Seen] = []

    def update(self, seen: Iterable[Seen]) -> None:
        found = list(seen)
        with self._lock:
            self._seen = found

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            seen = list(self._seen)
        resources = GaugeMetricFamily(
            "graphsync_operator_resources",
            "graphsync resources the operator watches, by kind, phase and Ready condition.",
            labels=["kind", "phase", "ready"],
        )
        for (kind, phase, ready), count in sorted(census(seen).items()):
            resources.add_metric([kind, phase, ready], count)
        return [resources, *reconciliation_families(seen)]


CLUSTER = Cluster()
REGISTRY.register(CLUSTER)


def handler_ran(kind: str, handler: str, outcome: str, seconds: float) -> None:
    HANDLER_RUNS.labels(kind, handler, outcome).inc()
    HANDLER_SECONDS.labels(kind, handler).observe(seconds)


def serve(port: int) -> int:
    """Serve /metrics on every interface in a daemon thread; the port bound (OSError when it is taken)."""
    server, _ = start_http_server(port, addr="0.0.0.0", registry=REGISTRY)  # noqa: S104 - Prometheus scrapes the pod IP
    return int(server.server_address[1])
