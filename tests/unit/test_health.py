"""The worker's probes and metrics: what they answer for each report, and the HTTP server that serves them."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector, CollectorRegistry

from graphsync_operator import health, heartbeat
from graphsync_operator.heartbeat import Snapshot
from graphsync_operator.progress import WorkerReport, WorkerState
from tests.unit.worker_data import STARTED, T0, Progress

# Probes and metrics.


def report(state: WorkerState, **fields: Any) -> WorkerReport:
    return WorkerReport(pod="p", started_at=STARTED, heartbeat=STARTED, state=state, **fields)


@pytest.mark.parametrize(
    ("state", "one_shot", "ready", "reason"),
    [
        (WorkerState.STARTING, False, False, "starting"),
        (WorkerState.RUNNING, False, True, "running"),
        (WorkerState.FINISHED, True, True, "finished"),
        (WorkerState.FINISHED, False, False, "finished: shutting down"),
        (WorkerState.FAILED, False, False, "failed: bad spec"),
    ],
)
def test_ready_only_while_running_or_when_a_one_shot_run_finished(
    state: WorkerState, one_shot: bool, ready: bool, reason: str
) -> None:
    found, text = health.readiness(
        report(state, error="bad spec" if state is WorkerState.FAILED else None), one_shot=one_shot
    )
    assert found is ready
    assert text.startswith(reason)


def test_not_ready_while_retrying_and_the_reason_names_the_side() -> None:
    found, text = health.readiness(
        report(WorkerState.RETRYING, error="target: retry 3: ServiceUnavailable: 127.0.0.1:1"), one_shot=True
    )
    assert not found
    assert text == "retrying: target: retry 3: ServiceUnavailable: 127.0.0.1:1"


def test_alive_until_three_heartbeats_are_missed() -> None:
    assert health.liveness(T0, now=T0 + 30, interval=10) == (True, "alive")
    assert health.liveness(T0, now=T0 + 31, interval=10) == (False, "no heartbeat for 31s")


class Fixed(Collector):
    def __init__(self, found: list[Metric]) -> None:
        self.found = found

    def collect(self) -> list[Metric]:
        return self.found


def exposition(found: list[Metric]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed(found))
    return generate_latest(registry).decode()


def test_metrics_carry_counters_lag_last_sync_and_up() -> None:
    text = exposition(
        health.families(
            report(
                WorkerState.RUNNING,
                synced=120,
                failed=2,
                retries=5,
                lag_seconds=0.0,
                last_sync_time=datetime.fromtimestamp(T0, UTC),
            ),
            up=True,
        )
    )
    assert 'graphsync_items_total{outcome="synced"} 120.0' in text
    assert 'graphsync_items_total{outcome="failed"} 2.0' in text
    assert "graphsync_retries_total 5.0" in text
    assert "graphsync_lag_seconds 0.0" in text
    assert (
        f"graphsync_last_sync_timestamp_seconds {T0}" in text or "graphsync_last_sync_timestamp_seconds 1.7e+09" in text
    )
    assert "graphsync_worker_up 1.0" in text


def test_unknown_values_are_left_out_and_down_is_zero() -> None:
    text = exposition(health.families(report(WorkerState.STARTING), up=False))
    assert "graphsync_lag_seconds" not in text
    assert "graphsync_last_sync_timestamp_seconds" not in text
    assert "graphsync_worker_up 0.0" in text


# The server.


@pytest.fixture
def served() -> Iterator[tuple[heartbeat.Reporter, Progress, str]]:
    runs = Progress()
    reporter = heartbeat.Reporter(pod="p", interval=60, progress=runs)
    server = health.HealthServer(0, reporter)
    server.start()
    yield reporter, runs, f"http://127.0.0.1:{server.port}"
    server.close()


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_the_server_answers_probes_and_scrapes(served: tuple[heartbeat.Reporter, Progress, str]) -> None:
    reporter, runs, base = served
    assert get(base + "/healthz") == (200, "alive\n")
    assert get(base + "/readyz") == (503, "starting: nothing read from the source yet\n")
    runs.value = Snapshot(synced=9, progressed_at=time.time(), caught_up_at=time.time(), caught_up=True)
    reporter.tick()
    assert get(base + "/readyz") == (200, "running\n")
    status, text = get(base + "/metrics")
    assert status == 200
    assert 'graphsync_items_total{outcome="synced"} 9.0' in text
    assert "graphsync_worker_up 1.0" in text
    assert get(base + "/nothing")[0] == 404
    reporter.ticked_at -= 181
    assert get(base + "/healthz") == (503, "no heartbeat for 181s\n")
