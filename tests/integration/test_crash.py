"""Crash safety: relay and consumers SIGKILLed at random points while the application writes.

Afterwards the graph must equal the PostgreSQL state exactly, in every trial.
CI runs a few trials of 50,000 changes; GRAPHSYNC_CRASH_TRIALS and
GRAPHSYNC_CRASH_CHANGES make it a longer soak. The same with capture logical: its
one worker killed while several connections write for GRAPHSYNC_CRASH_SECONDS (15 in CI).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
import yaml

from graphsync.connectors.postgres.logical.slot import slot_name
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.tables import tables_of
from graphsync.spec.mapping import Mappings
from graphsync_dev.service import Service
from tests import shop, workload
from tests.conftest import unique_name
from tests.integration.faults import Writers

TRIALS = int(os.environ.get("GRAPHSYNC_CRASH_TRIALS", "3"))
LOGICAL_CHAOS_SECONDS = float(os.environ.get("GRAPHSYNC_CRASH_SECONDS", "15"))
CHANGES = int(os.environ.get("GRAPHSYNC_CRASH_CHANGES", "50000"))
# Two relays (they must not collide) and two consumers (they share the work).
ROLES = ("relay", "relay", "consumer", "consumer")


def spec_document(name: str, schema: str, services: dict[str, Service]) -> dict[str, Any]:
    pg = services["postgres"].env
    return {
        "name": name,
        "source": {
            "postgres": {
                "url": f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
                "password": {"env": "GRAPHSYNC_PG_PASSWORD"},
                "schema": schema,
            }
        },
        "transport": {
            "redisStreams": {
                "url": services["redis"].env["GRAPHSYNC_REDIS_URL"],
                "partitions": 4,
                "claimIdleSeconds": 1,
            }
        },
        "target": {"neo4j": {"uri": services["neo4j"].env["GRAPHSYNC_NEO4J_URI"]}},
        "mappings": shop.mappings(schema),
        "batchSize": 500,
    }


def worker(spec_file: Path, role: str, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "graphsync.cli", "run", "-f", str(spec_file), "--role", role, *extra],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def chaos(
    spec_file: Path, logs: Path, done: threading.Event, rng: random.Random, roles: tuple[str, ...] = ROLES
) -> int:
    """Keep the `roles` running; SIGKILL one at random every so often. Returns the kill count."""
    procs = [worker(spec_file, role, logs / f"{i}.log") for i, role in enumerate(roles)]
    kills = 0
    try:
        while not done.is_set():
            time.sleep(rng.uniform(0.5, 2.5))
            victim = rng.randrange(len(procs))
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            kills += 1
            procs[victim] = worker(spec_file, roles[victim], logs / f"{victim}.log")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    return kills


def test_sigkill_at_random_points_loses_and_doubles_nothing(
    pg_conn: psycopg.Connection[Any],
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAPHSYNC_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    services = {"postgres": postgres_service, "redis": redis_service, "neo4j": neo4j_service}
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    schema = str(row[0])
    shop.create(pg_conn, schema)
    for trial in range(TRIALS):
        name = unique_name("crash").replace("_", "-")
        spec_file = tmp_path / f"{name}.yaml"
        spec_file.write_text(yaml.safe_dump(spec_document(name, schema, services)))
        prepare = worker(spec_file, "all", tmp_path / "prepare.log", "--until-idle")
        assert prepare.wait(timeout=120) == 0, (tmp_path / "prepare.log").read_text()

        done = threading.Event()
        with ThreadPoolExecutor(max_workers=1) as pool:
            killing = pool.submit(chaos, spec_file, tmp_path, done, random.Random(trial))
            try:
                changed = workload.run(pg_conn, schema, CHANGES, seed=trial)
            finally:
                done.set()
            kills = killing.result()
        time.sleep(1.5)  # past claimIdleSeconds: the dead consumers' entries become claimable
        final = worker(spec_file, "all", tmp_path / "final.log", "--until-idle")
        assert final.wait(timeout=600) == 0, (tmp_path / "final.log").read_text()[-3000:]

        expected, actual = shop.expected(pg_conn, schema), shop.actual(neo4j_driver)
        assert actual == expected, f"trial {trial}: graph differs after {kills} kills and {changed} changes"
        assert kills >= 3
        events = pg_conn.execute(
            "SELECT count(*) FILTER (WHERE status <> 'completed'), count(*) FROM outbox WHERE pipeline = %s", (name,)
        ).fetchone()
        assert events is not None
        assert events[0] == 0
        assert events[1] >= CHANGES
        # The next trial is another pipeline: this one's capture goes with it.
        for table in tables_of(Mappings.model_validate(shop.mappings(schema))):
            Outbox(schema, pipeline=name).remove_capture(pg_conn, table=table.name)
        pg_conn.execute("TRUNCATE customer, product, orders, likes, outbox, entity_status, dead_letter, checkpoint")
        neo4j_driver.execute_query("MATCH (n) DETACH DELETE n")


def test_sigterm_finishes_the_batch_in_flight_and_exits_cleanly(
    pg_conn: psycopg.Connection[Any],
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRAPHSYNC_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    services = {"postgres": postgres_service, "redis": redis_service, "neo4j": neo4j_service}
    row = pg_conn.execute("SELECT current_schema()").fetchone()
    assert row is not None
    schema = str(row[0])
    shop.create(pg_conn, schema)
    spec_file = tmp_path / "pipeline.yaml"
    spec_file.write_text(yaml.safe_dump(spec_document(unique_name("term").replace("_", "-"), schema, services)))
    prepare = worker(spec_file, "all", tmp_path / "prepare.log", "--until-idle")  # installs the capture triggers
    assert prepare.wait(timeout=120) == 0
    log = tmp_path / "worker.log"
    proc = worker(spec_file, "all", log)
    workload.run(pg_conn, schema, 5000, seed=5)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, log.read_text()[-3000:]
    assert "items synced" in log.read_text()
    final = worker(spec_file, "all", tmp_path / "final.log", "--until-idle")
    assert final.wait(timeout=300) == 0
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)


def test_logical_capture_sigkilled_at_random_points_while_several_connections_write(
    pg_conn: psycopg.Connection[Any],
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """capture: logical, its one worker killed again and again: the slot only moves past what was applied."""
    monkeypatch.setenv("GRAPHSYNC_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    services = {"postgres": postgres_service, "redis": redis_service, "neo4j": neo4j_service}
    schema = str(pg_conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    shop.create(pg_conn, schema)
    name = unique_name("crash").replace("_", "-")
    document = spec_document(name, schema, services)
    del document["transport"]
    document["source"]["postgres"]["capture"] = "logical"
    spec_file = tmp_path / f"{name}.yaml"
    spec_file.write_text(yaml.safe_dump(document))
    prepare = worker(spec_file, "all", tmp_path / "prepare.log", "--until-idle")  # creates the slot
    assert prepare.wait(timeout=120) == 0, (tmp_path / "prepare.log").read_text()
    try:
        done = threading.Event()
        with ThreadPoolExecutor(max_workers=1) as pool:
            killing = pool.submit(chaos, spec_file, tmp_path, done, random.Random(7), ("all",))
            try:
                with Writers(postgres_service.env["GRAPHSYNC_PG_DSN"], schema) as writers:
                    time.sleep(LOGICAL_CHAOS_SECONDS)
            finally:
                done.set()
            kills = killing.result()
        final = worker(spec_file, "all", tmp_path / "final.log", "--until-idle")
        assert final.wait(timeout=600) == 0, (tmp_path / "final.log").read_text()[-3000:]
        assert kills >= 3
        assert writers.committed > 1000
        expected, actual = shop.expected(pg_conn, schema), shop.actual(neo4j_driver)
        assert actual == expected, f"graph differs after {kills} kills and {writers.committed} changes"
    finally:
        pg_conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s AND NOT active",
            (slot_name(f"{name}"),),
        )
