"""What the fault tests share: a run watched from its own thread, several application connections committing
shop changes, convergence of the target with PostgreSQL while the run goes on, and the pipeline they run."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import psycopg

from graphsync import capture
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.service import Service
from tests import shop, workload
from tests.conftest import unique_name

Conn = psycopg.Connection[Any]
log = logging.getLogger(__name__)
WRITERS = 3
CONVERGE_SECONDS = 90


@dataclass
class Watched:
    """A pipeline run in a thread, as a worker runs it: its live stats, and when each batch landed."""

    spec: PipelineSpec
    stop: threading.Event = field(default_factory=threading.Event)
    stats: RunStats | None = None
    batch_times: list[float] = field(default_factory=list)
    results: list[RunStats] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    thread: threading.Thread | None = None
    # Told the progress of the spec's backfills.
    on_backfills: Callable[[list[dict[str, Any]]], None] | None = None
    # Runs started and not yet finished: a test that fails half-way leaves its run going, and the run would
    # retry against servers gone, in the threads of the tests after it (see stop_every_run).
    running: ClassVar[list[Watched]] = []

    def start(self) -> None:
        if self.spec.source.postgres is not None:
            # Capture is in place before the test's first write (a continuous run captures from its start on).
            capture.prepare_source(self.spec)

        def seen(stats: RunStats) -> None:
            self.stats = stats
            self.batch_times.append(time.monotonic())

        def body() -> None:
            try:
                self.results.append(
                    run.run(
                        self.spec,
                        RunControl(stop=self.stop, on_batch=seen, probe_seconds=1, on_backfills=self.on_backfills),
                    )
                )
            except BaseException as exc:  # noqa: BLE001 - the test reports a crashed run, whatever it raised
                self.errors.append(exc)

        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()
        Watched.running.append(self)

    def finish(self) -> None:
        self.stop.set()
        assert self.thread is not None
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the run did not stop"
        Watched.running.remove(self)

    @classmethod
    def stop_every_run(cls) -> None:
        """Stop the runs a failed test left going; the failure is that test's, already reported."""
        for watched in cls.running:
            watched.stop.set()
        for watched in cls.running:
            if watched.thread is not None:
                watched.thread.join(timeout=120)
        cls.running.clear()


class Writers:
    """Several application connections committing random shop changes until stopped; a fault that cuts one
    off (a restarted PostgreSQL) makes it reconnect and go on, as an application's pool would."""

    def __init__(self, dsn: str, schema: str, count: int = WRITERS) -> None:
        self._dsn, self._schema = dsn, schema
        self._stop = threading.Event()
        self.committed = 0
        self.cut_off = 0
        self._threads = [threading.Thread(target=self._write, args=(seed,), daemon=True) for seed in range(count)]

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _write(self, seed: int) -> None:
        round_ = 0
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._dsn, autocommit=True) as conn:
                    while not self._stop.is_set():
                        round_ += 1
                        self.committed += workload.run(
                            conn, self._schema, 40, seed=seed * 100_000 + round_, per_transaction=10
                        )
            except psycopg.Error:
                self.cut_off += 1
                time.sleep(0.2)


def converge(actual: Callable[[], Any], expected: Callable[[], Any], within: float = CONVERGE_SECONDS) -> float:
    """Seconds until the target equals the source; fails with the difference after `within`."""
    started = time.monotonic()
    while True:
        have, want = actual(), expected()
        if have == want:
            return time.monotonic() - started
        if time.monotonic() - started > within:
            assert have == want
        time.sleep(1)


def pipeline_spec(
    pg: Service, schema: str, redis_service: Service, target: dict[str, Any], *, capture: str = "triggers"
) -> PipelineSpec:
    env = pg.env
    transport = {
        "redisStreams": {
            "url": redis_service.env["GRAPHSYNC_REDIS_URL"],
            "claimIdleSeconds": 1,
            "redeliverAfterSeconds": 5,
        }
    }
    return PipelineSpec.model_validate(
        {
            "name": unique_name("matrix").replace("_", "-"),
            "source": {
                "postgres": {
                    "url": f"postgresql://{env['GRAPHSYNC_PG_USER']}@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres",
                    "password": {"env": "MATRIX_PG_PASSWORD"},
                    "schema": schema,
                    "capture": capture,
                }
            },
            # A logical capture reads its slot directly.
            **({"transport": transport} if capture != "logical" else {}),
            "target": target,
            "mappings": shop.mappings(schema),
            "batchSize": 100,
        }
    )


def first_batch_since(watched: Watched, moment: float, within: float = 60) -> float:
    """When the run first applied a batch after `moment`, waiting up to `within` seconds for one."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        after = [t for t in watched.batch_times if t > moment]
        if after:
            return min(after)
        time.sleep(0.2)
    raise AssertionError(f"no batch was applied in the {within:.0f}s after the fault ended")


def dead_letters(spec: PipelineSpec, dsn: str) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return PostgresDeadLetters(conn, pipeline=spec.identity, schema=spec.postgres.schema_).count()
