"""A target that refuses every write for a while (out of memory, made a read-only replica) while changes flow:
the run waits it out, says so, and dead-letters nothing; once the target takes writes again it converges.

Part of the fault matrix (see test_fault_matrix.py, whose harness it shares), on a FalkorDB server of its own.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import sql

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.redis import streams
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process
from graphsync_dev import redis as redis_server
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import eventually, unique_name
from tests.integration.faults import (
    CONVERGE_SECONDS,
    Watched,
    Writers,
    converge,
    dead_letters,
    pipeline_spec,
)

log = logging.getLogger(__name__)
# Twice the pipeline's redeliverAfterSeconds: long enough for the relay to publish its backlog again.
REFUSING_SECONDS = 10
# The slowest catch-up rate a loaded machine is allowed (see the Neo4j test's converge).
CATCH_UP_PER_SECOND = 50
WAL_SENDER_TIMEOUT_SECONDS = 3


@pytest.fixture
def own_falkordb(run_dir: Path) -> Iterator[Service]:
    """A FalkorDB of this test's own, since the test makes it refuse writes."""
    service = redis_server.start_falkordb(run_dir / unique_name("falkor"))
    yield service
    for pid in service.pids:
        process.stop(pid)


def stream_entries(redis_service: Service, spec: PipelineSpec) -> int:
    names = streams.Streams(prefix=f"graphsync:{spec.identity}", partitions=spec.redis_streams.partitions).names()
    with redis.Redis.from_url(redis_service.env["GRAPHSYNC_REDIS_URL"]) as client:
        return sum(int(client.xlen(name)) for name in names)


def outbox_events(dsn: str, spec: PipelineSpec) -> int:
    with psycopg.connect(dsn, autocommit=True) as conn:
        query = sql.SQL("SELECT count(*) FROM {}.outbox WHERE pipeline = %s").format(
            sql.Identifier(spec.postgres.schema_)
        )
        row = conn.execute(query, (spec.identity,)).fetchone()
        return int(row[0]) if row else 0


def _out_of_memory(admin: redis.Redis) -> Callable[[], None]:
    admin.config_set("maxmemory", "1")

    def restore() -> None:
        admin.config_set("maxmemory", "0")

    return restore


def _read_only_replica(admin: redis.Redis) -> Callable[[], None]:
    # A primary nobody answers for: the server turns replica (every write refused READONLY) and keeps its data.
    # redis-py leaves execute_command unannotated.
    admin.execute_command("REPLICAOF", "127.0.0.1", str(process.free_port()))  # type: ignore[no-untyped-call]

    def restore() -> None:
        admin.execute_command("REPLICAOF", "NO", "ONE")  # type: ignore[no-untyped-call]

    return restore


@contextmanager
def wal_sender_timeout(dsn: str, seconds: int | None) -> Iterator[None]:
    """PostgreSQL drops a replication client it has not heard from for this long (default 60 s): shorter than
    the refusal, so a stream held up behind the refusing target must keep telling the server it is alive."""
    if seconds is None:
        yield
        return
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("ALTER SYSTEM SET wal_sender_timeout = {}").format(sql.Literal(f"{seconds}s")))
        conn.execute("SELECT pg_reload_conf()")
        try:
            yield
        finally:
            conn.execute("ALTER SYSTEM RESET wal_sender_timeout")
            conn.execute("SELECT pg_reload_conf()")


@pytest.mark.parametrize(
    ("fault", "capture"),
    [(_out_of_memory, "triggers"), (_read_only_replica, "triggers"), (_read_only_replica, "logical")],
    ids=["out-of-memory", "read-only", "read-only-logical"],
)
def test_a_target_refusing_every_write_is_waited_out_and_nothing_is_dead_lettered(
    fault: Callable[[redis.Redis], Callable[[], None]],
    capture: str,
    own_falkordb: Service,
    postgres_service: Service,
    redis_service: Service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MATRIX_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
    url = own_falkordb.env["GRAPHSYNC_FALKORDB_URL"]
    schema = unique_name("refused")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        shop.create(conn, schema)
    graph = unique_name("g")
    target = {"falkordb": {"url": url, "graph": graph}}
    spec = pipeline_spec(postgres_service, schema, redis_service, target, capture=capture)
    watched = Watched(spec)
    watched.start()
    timeout = WAL_SENDER_TIMEOUT_SECONDS if capture == "logical" else None
    with redis.Redis.from_url(url) as admin, Writers(dsn, schema) as writers, wal_sender_timeout(dsn, timeout):
        time.sleep(3)
        undo = fault(admin)
        try:
            time.sleep(REFUSING_SECONDS)
            # While the target refuses, the run says why and blames no record.
            assert watched.stats is not None
            refusals = [e for e in watched.stats.errors if e.startswith("target:")]
            assert refusals, watched.stats.errors
            assert dead_letters(spec, dsn) == 0
            entries = events = 0
            if spec.transport is not None:
                # The consumer holds what it read: the relay does not pile copies of its backlog onto the streams.
                entries, events = stream_entries(redis_service, spec), outbox_events(dsn, spec)
                assert entries <= events, f"{entries} stream entries for {events} events"
        finally:
            undo()
        back_at = time.monotonic()
        time.sleep(3)
    assert writers.committed > 0
    assert watched.errors == []

    written = falkor_graph.connect(url, graph)
    try:
        with psycopg.connect(dsn, autocommit=True) as source:
            seconds = converge(lambda: shop.actual_falkordb(written), lambda: shop.expected(source, schema))
        recovered = time.monotonic() - back_at
    finally:
        written.close()
    # The source was fine all along: its connections were kept, not lost and opened again.
    assert [e for e in watched.stats.errors if e.startswith("source:")] == []
    watched.finish()
    assert watched.errors == []
    assert dead_letters(spec, dsn) == 0
    assert run.run(spec, RunControl(stop=threading.Event(), until_idle=True)).synced == 0
    log.info(
        "%s: %d refusal(s) reported, %d stream entries for %d events; "
        "converged %.1fs after writes stopped (%.1fs after the target was back); "
        "%d changes",
        fault.__name__,
        len(refusals),
        entries,
        events,
        seconds,
        recovered,
        writers.committed,
    )


# How a Neo4j comes back refusing the run's writes, and what the refusal says.
NEO4J_FAULTS: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "password-rotated": ({"password": "second-password"}, ("AuthError", "Unauthorized")),
    "read-only": ({"read_only": True}, ("ForbiddenOnReadOnlyDatabase", "read-only", "read only")),
}


@pytest.mark.parametrize("fault", list(NEO4J_FAULTS))
def test_a_neo4j_refusing_writes_under_the_run_is_waited_out_and_nothing_is_dead_lettered(
    fault: str, run_dir: Path, postgres_service: Service, redis_service: Service, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The password rotated before the Secret the worker reads, or the database set read-only: every write
    of every batch is refused, with an error no record is to blame for."""
    home = run_dir / unique_name("neo4j")
    started = [neo4j_server.start(home, auth=True, password="first-password", heap="512m")]
    port = int(started[0].env["GRAPHSYNC_NEO4J_URI"].rsplit(":", 1)[1])
    refused_with, signs = NEO4J_FAULTS[fault]

    def restarted_with(**how: Any) -> None:
        for pid in started[-1].pids:
            process.stop(pid)
        options = {"password": "first-password", **how}
        started.append(neo4j_server.start(home, auth=True, port=port, heap="512m", **options))

    try:
        monkeypatch.setenv("MATRIX_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
        monkeypatch.setenv("MATRIX_NEO4J_PASSWORD", "first-password")
        dsn = postgres_service.env["GRAPHSYNC_PG_DSN"]
        schema = unique_name("refused")
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            shop.create(conn, schema)
        target = {"neo4j": {"uri": started[0].env["GRAPHSYNC_NEO4J_URI"], "password": {"env": "MATRIX_NEO4J_PASSWORD"}}}
        spec = pipeline_spec(postgres_service, schema, redis_service, target)
        watched = Watched(spec)
        watched.start()
        with Writers(dsn, schema) as writers:
            time.sleep(3)
            # The old connections go with a restart; the server now refuses the run's writes.
            restarted_with(**refused_with)
            stats = watched.stats
            assert stats is not None
            # Neo4j takes a while to open its database after a restart on a busy machine; until it does, the
            # run sees only "unavailable", which is not the fault under test.
            try:
                refusals = eventually(
                    lambda: [e for e in stats.errors if any(sign in e for sign in signs)],
                    f"a {fault} refusal",
                    timeout=240,
                )
            except AssertionError as exc:
                ended = f"the run ended: raised {watched.errors!r}, returned {watched.results!r}"
                raise AssertionError(f"{exc}\n{ended}\n{_what_the_run_saw(stats.errors, started[-1])}") from None
            time.sleep(REFUSING_SECONDS)
            assert dead_letters(spec, dsn) == 0
            # Set right (the Secret caught up, the database writable again): the run carries on by itself.
            restarted_with()
            back_at = time.monotonic()
            time.sleep(3)
        assert watched.errors == []
        driver = neo4j_server.driver(started[-1].env)
        try:
            with psycopg.connect(dsn, autocommit=True) as source:
                # The backlog grows with the outage (the writers never pause, and a Neo4j restarting on a busy
                # machine can take minutes): with both cores busy elsewhere, 19,290 changes took 53 s to apply in
                # one trial and 13,460 took 131 s in another, so the wait allows 50 changes/s on top of the
                # matrix's 90 s. A run that stopped writing for good still fails here, and says why.
                within = CONVERGE_SECONDS + writers.committed / CATCH_UP_PER_SECOND
                seconds = converge(lambda: shop.actual(driver), lambda: shop.expected(source, schema), within=within)
            recovered = time.monotonic() - back_at
        except AssertionError as exc:
            since = [t - back_at for t in watched.batch_times if t > back_at]
            landed = f"batches landed since the target took writes again, at (s): {since[:5]} ... {since[-5:]}"
            raise AssertionError(f"{exc}\n{landed}\n{_what_the_run_saw(stats.errors, started[-1])}") from None
        finally:
            driver.close()
        watched.finish()
        assert watched.errors == []
        assert dead_letters(spec, dsn) == 0
        assert run.run(spec, RunControl(stop=threading.Event(), until_idle=True)).synced == 0
        log.info(
            "neo4j %s: %d refusal(s) reported; converged %.1fs after writes stopped "
            "(%.1fs after it took writes again); %d changes",
            fault,
            len(refusals),
            seconds,
            recovered,
            writers.committed,
        )
    finally:
        for service in started:
            for pid in service.pids:
                process.stop(pid)


def _what_the_run_saw(errors: Iterable[str], server: Service) -> str:
    """What a failure to see the refusal needs explained: the run's errors, where each of its threads
    stands (a call that never returns shows here), and the restarted server's own log."""
    stacks = "\n".join(
        f"thread {ident}:\n{''.join(traceback.format_stack(frame))}" for ident, frame in sys._current_frames().items()
    )
    logs = "\n".join(process.log_tail(Path(path)) for path in server.logs)
    return f"errors: {list(errors)}\n{stacks}\nserver log:\n{logs}"
