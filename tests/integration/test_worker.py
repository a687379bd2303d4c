"""`graphsync-operator worker sync` as a pod runs it, against the real PostgreSQL, Redis and Neo4j.

No Kubernetes here (GRAPHSYNC_LEASE unset, so nothing is reported to a Lease): the
process must sync like `graphsync run`, answer its probes and scrapes while it works,
say it is not ready (naming the target) while the target is down, and keep retrying
until SIGTERM ends it cleanly.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
import yaml

from graphsync import capture
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import sample
from graphsync_dev.service import Service
from tests import http, metrics, shop
from tests.conftest import unique_name
from tests.integration.test_crash import spec_document

pytestmark = pytest.mark.integration

Conn = psycopg.Connection[Any]
COMMAND = str(Path(sys.executable).parent / "graphsync-operator")


@pytest.fixture
def pipeline(
    pg_conn: Conn,
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """A continuous shop pipeline with its capture triggers installed (so what is seeded next is captured)."""
    monkeypatch.setenv("GRAPHSYNC_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    schema = str(row[0])
    shop.create(pg_conn, schema)
    services = {"postgres": postgres_service, "redis": redis_service, "neo4j": neo4j_service}
    document = {**spec_document(unique_name("w").replace("_", "-"), schema, services), "batchSize": 100}
    capture.prepare_source(PipelineSpec.model_validate(document))
    return document


class Worker:
    """The worker process, its port and its output."""

    def __init__(self, document: dict[str, Any], tmp_path: Path, *extra: str, command: str = "sync") -> None:
        spec_file = tmp_path / "pipeline.yaml"
        spec_file.write_text(yaml.safe_dump(document))
        self.port = free_port()
        self.out, self.err = tmp_path / f"{command}.out", tmp_path / f"{command}.err"
        env = {**os.environ, "GRAPHSYNC_HTTP_PORT": str(self.port), "GRAPHSYNC_HEARTBEAT_SECONDS": "0.2"}
        env.pop("GRAPHSYNC_LEASE", None)
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [COMMAND, "worker", command, "-f", str(spec_file), *extra], stdout=out, stderr=err, env=env
            )

    def get(self, path: str) -> tuple[int, str] | None:
        return http.get(self.port, path)

    def log(self) -> str:
        return self.out.read_text() + self.err.read_text()[-5000:]

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@pytest.fixture
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def metric(text: str, name: str, **labels: str) -> float | None:
    return metrics.value(text, name, **labels)


def synced(text: str) -> float:
    """Items written: created, updated or deleted."""
    return sum(metric(text, "graphsync_items_total", outcome=o) or 0.0 for o in ("created", "updated", "deleted"))


def poll(condition: Any, timeout: float, what: str, worker: Worker) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        assert worker.proc.poll() is None, (
            f"the worker exited ({worker.proc.returncode}) before {what}:\n{worker.log()}"
        )
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{worker.log()}"
        time.sleep(0.05)


def seeded_until_caught_up(worker: Worker, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver) -> str:
    """Once the worker is ready, seed the shop while it runs (captured, then consumed), wait for the graph to
    hold it and the lag to reach 0; the worker's /metrics text then."""
    poll(lambda: worker.get("/readyz") == (200, "running\n"), 60, "/readyz 200", worker)
    sample.seed(pg_conn, schema, customers=50)
    pg_conn.execute(f"SET search_path TO {schema}")
    expected = shop.expected(pg_conn, schema)
    poll(lambda: shop.actual(neo4j_driver) == expected, 60, "the data to land", worker)

    def caught_up() -> str | None:
        answer = worker.get("/metrics")
        text = answer[1] if answer else ""
        return text if metric(text, "graphsync_lag_seconds") == 0.0 else None

    text: str = poll(caught_up, 30, "lag 0", worker)
    return text


def test_until_idle_syncs_everything_and_answers_while_it_runs(
    pipeline: dict[str, Any], pg_conn: Conn, neo4j_driver: neo4j.Driver, tmp_path: Path, workers: list[Worker]
) -> None:
    schema = pipeline["source"]["postgres"]["schema"]
    sample.seed(pg_conn, schema, customers=600)  # 3,000 changes: a run of some seconds at 100 a batch
    worker = Worker(pipeline, tmp_path, "--until-idle")
    workers.append(worker)
    answers: dict[str, list[tuple[int, str]]] = {"/healthz": [], "/readyz": [], "/metrics": []}
    while worker.proc.poll() is None:
        for path, seen in answers.items():
            answer = worker.get(path)
            if answer is not None:
                seen.append(answer)
        time.sleep(0.02)
    assert worker.proc.wait() == 0, worker.log()

    pg_conn.execute(f"SET search_path TO {schema}")
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    assert "items synced" in worker.out.read_text()
    assert (200, "alive\n") in answers["/healthz"], worker.log()
    assert (200, "running\n") in answers["/readyz"], answers["/readyz"][:5]
    counts = [synced(text) for status, text in answers["/metrics"]]
    assert any(count for count in counts), answers["/metrics"][-1:]
    assert counts == sorted(counts), "a counter went back"

    check = Worker(pipeline, tmp_path, command="reconcile")
    workers.append(check)
    assert check.proc.wait(timeout=120) == 0, check.log()
    assert "): inSync" in check.out.read_text()
    assert "-> finished" in check.err.read_text()


def test_a_continuous_worker_is_ready_caught_up_and_stops_on_sigterm(
    pipeline: dict[str, Any], pg_conn: Conn, neo4j_driver: neo4j.Driver, tmp_path: Path, workers: list[Worker]
) -> None:
    schema = pipeline["source"]["postgres"]["schema"]
    worker = Worker(pipeline, tmp_path)
    workers.append(worker)
    text = seeded_until_caught_up(worker, pg_conn, schema, neo4j_driver)
    assert synced(text) == 250  # 50 + 50 + 100 + 50
    assert metric(text, "graphsync_items_total", outcome="failed") == 0
    assert metric(text, "graphsync_worker_up") == 1
    assert (metric(text, "graphsync_last_sync_timestamp_seconds") or 0) > time.time() - 120
    assert worker.stop() == 0, worker.log()
    assert "items synced" in worker.out.read_text()
    assert "SIGTERM received" in worker.err.read_text()


def test_a_logical_worker_times_each_change_from_its_commit_and_shows_no_backlog_once_caught_up(
    pipeline: dict[str, Any], pg_conn: Conn, neo4j_driver: neo4j.Driver, tmp_path: Path, workers: list[Worker]
) -> None:
    document = {key: value for key, value in pipeline.items() if key != "transport"}
    document["source"] = {"postgres": {**pipeline["source"]["postgres"], "capture": "logical"}}
    capture.prepare_source(PipelineSpec.model_validate(document))
    schema = document["source"]["postgres"]["schema"]
    worker = Worker(document, tmp_path)
    workers.append(worker)
    try:
        text = seeded_until_caught_up(worker, pg_conn, schema, neo4j_driver)
        # Each of the 250 rows seeded is one change of the stream, timed once.
        assert metric(text, "graphsync_commit_to_visible_seconds_count") == 250
        assert metric(text, "graphsync_commit_to_visible_seconds_bucket", le="+Inf") == 250
        assert 0 < (metric(text, "graphsync_commit_to_visible_seconds_sum") or 0) / 250 < 30
        assert metric(text, "graphsync_backlog_events") == 0
        assert worker.stop() == 0, worker.log()
    finally:
        # The slot would hold WAL for every later test.
        pg_conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots"
            " WHERE NOT active AND slot_name LIKE 'graphsync_%'"
        )


def test_with_the_target_down_it_is_not_ready_names_the_target_and_keeps_retrying(
    pipeline: dict[str, Any], pg_conn: Conn, tmp_path: Path, workers: list[Worker]
) -> None:
    sample.seed(pg_conn, pipeline["source"]["postgres"]["schema"], customers=5)
    closed = free_port()  # nothing listens there
    document = {**pipeline, "target": {"neo4j": {"uri": f"bolt://127.0.0.1:{closed}"}}}
    # Continuous: an until-idle streaming pass drains with a stop event of its own (graphsync.relaying.drain), so
    # SIGTERM would wait for the target there.
    worker = Worker(document, tmp_path)
    workers.append(worker)

    def retrying() -> str | None:
        answer = worker.get("/readyz")
        return answer[1] if answer and answer[0] == 503 and answer[1].startswith("retrying") else None

    reason = poll(retrying, 60, "/readyz 503 retrying", worker)
    assert reason.startswith("retrying: target: retry "), reason
    assert f"127.0.0.1:{closed}" in reason

    def retries() -> float:
        answer = worker.get("/metrics")
        return metric(answer[1], "graphsync_retries_total") or 0.0 if answer else 0.0

    first = poll(retries, 10, "a retry counted", worker)
    poll(lambda: retries() > first, 60, "more retries", worker)
    answer = worker.get("/metrics")
    assert answer is not None
    assert metric(answer[1], "graphsync_worker_up") == 0
    assert worker.get("/healthz") == (200, "alive\n")

    assert worker.stop() == 0, worker.log()
    assert "items synced" in worker.out.read_text()
    assert "target: transient error, retrying" in worker.err.read_text()
