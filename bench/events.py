"""Event mode, PostgreSQL -> Neo4j, per capture kind (triggers through the outbox and Redis Streams; logical
from the WAL through a replication slot): commit-to-visible latency and the highest sustained rate.

A writer commits rows at a fixed rate, each carrying its commit time; a prober
polls Neo4j every 20 ms for new nodes and records when each became visible. The
worker is `graphsync run` in a child process. The capture kinds run one after the other in one run, on
the same servers, so their figures compare. Then the target's raw batched-write limit on this machine:
the same rows written straight to Neo4j by UNWIND MERGE batches, as fast as one connection can; each
capture kind's highest sustained rate is given as a share of it.

    .venv/bin/python -m bench.events --rate 1000 --seconds 60 --capture triggers logical
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

from bench import common
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev.service import Service

TICK = 0.01  # the writer commits every 10 ms
BACKLOG_TRANSACTION_ROWS = 200
PROBE = 0.02
# Latency samples a second the prober takes, whatever the rate.
SAMPLED_PER_SECOND = 1000


def prepare(pg: Service) -> None:
    with common.connect(pg) as conn:
        conn.execute("DROP SCHEMA IF EXISTS ev CASCADE")
        conn.execute("DROP SCHEMA IF EXISTS ev_graphsync CASCADE")
        conn.execute("CREATE SCHEMA ev")
        conn.execute(
            "CREATE TABLE ev.reading"
            " (id bigint PRIMARY KEY, sensor int, value double precision, committed_at double precision)"
        )


def write(pg: Service, rate: int, seconds: float, first_id: int, *, paced: bool = True) -> int:
    """Commit `rate` rows a second for `seconds`; each row's committed_at is set inside its transaction.
    Not `paced`: as fast as PostgreSQL takes them, in transactions of the same size."""
    per_tick = max(1, round(rate * TICK))
    next_id = first_id
    with common.connect(pg) as conn:
        started = time.perf_counter()
        tick = 0
        while (time.perf_counter() - started < seconds) if paced else (next_id - first_id < rate * seconds):
            conn.execute(
                "INSERT INTO ev.reading SELECT i, i %% 100, random(), extract(epoch FROM clock_timestamp())"
                " FROM generate_series(%s::bigint, %s::bigint) AS i",
                (next_id, next_id + per_tick - 1),
            )
            next_id += per_tick
            tick += 1
            delay = started + tick * TICK - time.perf_counter()
            if paced and delay > 0:
                time.sleep(delay)
    return next_id


def probe(neo: Service, stop: threading.Event, latencies: list[float], low: list[int], stride: int) -> None:
    """Record when rows became visible: every `stride`-th row (ids are consecutive from `low[0]`), so the
    prober costs about the same at any rate (reading every row at 16,000/s took it half a core, from the same
    two cores as the pipeline). Partitions apply out of order, so it tracks the lowest sampled id not yet
    seen (`low[0]`) and the sampled ids seen above it."""
    above: set[int] = set()
    phase = low[0] % stride
    with neo4j_server.driver(neo.env, notifications_min_severity="OFF") as driver, driver.session() as session:
        while not stop.is_set():
            now = time.time()
            records = session.run(
                "MATCH (r:Reading) WHERE r.id >= $low AND r.id % $stride = $phase"
                " RETURN r.id AS id, r.committed_at AS at",
                low=low[0],
                stride=stride,
                phase=phase,
            ).values()
            for row_id, at in records:
                if row_id not in above:
                    above.add(row_id)
                    latencies.append(now - at)
            while low[0] in above:
                above.discard(low[0])
                low[0] += stride
            time.sleep(PROBE)


def visible(neo: Service, first_id: int, next_id: int) -> int:
    with neo4j_server.driver(neo.env) as driver, driver.session() as session:
        record = session.run(
            "MATCH (r:Reading) WHERE r.id >= $first AND r.id < $next RETURN count(r) AS n",
            first=first_id,
            next=next_id,
        ).single()
    return int(record["n"]) if record else 0


def window(pg: Service, neo: Service, rate: int, seconds: float, first_id: int) -> tuple[dict[str, Any], int]:
    latencies: list[float] = []
    low = [first_id]
    stop = threading.Event()
    stride = max(1, rate // SAMPLED_PER_SECOND)
    prober = threading.Thread(target=probe, args=(neo, stop, latencies, low, stride), daemon=True)
    prober.start()
    next_id = write(pg, rate, seconds, first_id)
    written = next_id - first_id
    ended = time.perf_counter()
    deadline = ended + 30
    while low[0] < next_id and time.perf_counter() < deadline:
        time.sleep(0.05)
    drained_after = time.perf_counter() - ended
    stop.set()
    prober.join()
    seen = visible(neo, first_id, next_id)
    result = {
        "rate": rate,
        "achieved_write_rate": round(written / seconds),
        "visible": seen,
        "sampled_every": stride,
        "p50_ms": round(common.percentile(latencies, 0.5) * 1000, 1) if latencies else None,
        "p99_ms": round(common.percentile(latencies, 0.99) * 1000, 1) if latencies else None,
        "drained_after_s": round(drained_after, 2),
        "kept_up": seen == written and drained_after < 2.0,
    }
    return result, next_id


def backlog(pg: Service, neo: Service, worker: Worker, rows: int, first_id: int) -> tuple[dict[str, Any], int]:
    """The pipeline's own highest rate, with no load generator sharing the machine: `rows` committed (in
    transactions of BACKLOG_TRANSACTION_ROWS, the ramp's at 20,000/s) while the worker is stopped, then timed
    from the first row visible to the last, as the raw limit is timed with nothing else running."""
    worker.stop()
    # A batch holds whole transactions: transactions of thousands of rows would cut its batches short.
    rate = round(BACKLOG_TRANSACTION_ROWS / TICK)
    next_id = write(pg, rate, rows / rate, first_id, paced=False)
    worker.start()
    first_seen = None
    deadline = time.perf_counter() + 300
    while time.perf_counter() < deadline:
        seen = visible(neo, first_id, next_id)
        if seen and first_seen is None:
            first_seen, first_count = time.perf_counter(), seen
        if seen == rows:
            break
        time.sleep(0.1)
    assert first_seen is not None, "the worker applied nothing of the backlog"
    seconds = time.perf_counter() - first_seen
    return {"rows": rows, "visible": seen, "rows_per_s": round((seen - first_count) / seconds)}, next_id


RAW_ROWS = 60_000


RAW_PASSES = 4


def raw_write_limit(neo: Service, batch: int) -> list[float]:
    """Rows a second Neo4j takes from UNWIND MERGE batches of the events' shape, with no engine in between,
    pass after pass; the first warms the JVM up (as it is for the capture kinds) and is left out. This
    machine's figure wanders by a third from run to run, hence the median of the others."""
    with neo4j_server.driver(neo.env) as driver, driver.session() as session:
        session.run("CREATE CONSTRAINT raw_reading IF NOT EXISTS FOR (r:RawReading) REQUIRE r.id IS UNIQUE").consume()
        rates = []
        for offset in range(0, RAW_PASSES * RAW_ROWS, RAW_ROWS):
            rows = [{"id": offset + i, "sensor": i % 100, "value": 0.5, "committed_at": 0.0} for i in range(RAW_ROWS)]
            started = time.perf_counter()
            for low in range(0, RAW_ROWS, batch):
                session.execute_write(
                    lambda tx, chunk: tx.run(
                        "UNWIND $rows AS row MERGE (r:RawReading {id: row.id}) SET r += row", rows=chunk
                    ).consume(),
                    rows[low : low + batch],
                )
            rates.append(RAW_ROWS / (time.perf_counter() - started))
        session.run("MATCH (r:RawReading) CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS").consume()
    return rates[1:]


def measure(capture: str, started: dict[str, Service], args: argparse.Namespace) -> dict[str, Any]:
    """One capture kind's windows, on a fresh table and engine schema, with its own worker."""
    pg, neo = started["postgres"], started["neo4j"]
    prepare(pg)
    with common.connect(pg) as conn:
        # A slot left by an earlier run would hold WAL and a stale position.
        conn.execute(
            "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name LIKE 'graphsync_%%'"
        )
    workdir = Path(tempfile.mkdtemp(prefix="graphsync-bench-"))
    spec: dict[str, Any] = {
        "name": f"events-{capture}",
        "source": {"postgres": {**common.pg_spec_source(pg, "ev_graphsync")["postgres"], "capture": capture}},
        "target": {"neo4j": {"uri": neo.env["GRAPHSYNC_NEO4J_URI"], "password": {"env": "GRAPHSYNC_NEO4J_PASSWORD"}}},
        "mappings": {"nodes": [{"name": "reading", "table": "ev.reading", "labels": ["Reading"], "key": "id"}]},
        "batchSize": args.batch_size,
    }
    if capture != "logical":
        # The log-based capture reads its slot directly; the others go through Redis Streams.
        spec["transport"] = {"redisStreams": {"url": started["redis"].env["GRAPHSYNC_REDIS_URL"], "partitions": 4}}
    path = workdir / "events.yaml"
    path.write_text(yaml.safe_dump(spec))
    env = {**os.environ, **{k: v for k, v in {**pg.env, **neo.env}.items() if k.endswith("PASSWORD")}}
    setup = subprocess.run(
        [sys.executable, "-m", "graphsync.cli", "run", "-f", str(path), "--until-idle"],
        env=env,
        check=False,
        stdout=subprocess.DEVNULL,
    )
    if setup.returncode != 0:
        raise SystemExit(f"graphsync run --until-idle failed (capture {capture})")
    worker = Worker(path, env)
    worker.start()
    first_id = int(time.time() * 1000) * 1000  # above any id an earlier capture kind's window wrote
    try:
        time.sleep(3)
        results: dict[str, Any] = {}
        # Not recorded: the first seconds compile the worker's queries in Neo4j (and warm its caches), which
        # stalls some changes for about a second, a start-up cost, not the steady state measured here.
        _, next_id = window(pg, neo, args.rate, args.warmup_seconds, first_id)
        sustained, next_id = window(pg, neo, args.rate, args.seconds, next_id)
        results["sustained"] = sustained
        results["ramp"] = []
        for rate in args.ramp:
            result, next_id = window(pg, neo, rate, args.ramp_seconds, next_id)
            results["ramp"].append(result)
        kept = [r["achieved_write_rate"] for r in [sustained, *results["ramp"]] if r["kept_up"]]
        results["highest_sustained_rate"] = max(kept) if kept else None
        if args.backlog:
            results["backlog"], next_id = backlog(pg, neo, worker, args.backlog, next_id)
    finally:
        worker.stop()
    return results


class Worker:
    """`graphsync run` of the bench's pipeline in a child process, stopped as a pod would be (SIGTERM)."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self._argv = [sys.executable, "-m", "graphsync.cli", "run", "-f", str(path)]
        self._env = env
        self._child: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._child = subprocess.Popen(self._argv, env=self._env, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        if self._child is not None:
            self._child.terminate()
            self._child.wait(timeout=60)
            self._child = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--ramp", type=int, nargs="*", default=[2000, 4000, 6000, 8000, 12000])
    parser.add_argument("--ramp-seconds", type=float, default=15)
    parser.add_argument("--warmup-seconds", type=float, default=10, help="at --rate, before the measured window")
    parser.add_argument(
        "--batch-size", type=int, default=5000, help="the pipeline's batchSize, and the raw writes' batch"
    )
    parser.add_argument(
        "--backlog",
        type=int,
        default=0,
        help="then rows committed while the worker is stopped, and the rate it applies them at (0: not measured)",
    )
    parser.add_argument(
        "--capture", nargs="*", default=["triggers", "logical"], help="capture kinds, measured one after the other"
    )
    args = parser.parse_args()
    with common.servers(["postgres", "redis", "neo4j"]) as started:
        results: dict[str, Any] = {capture: measure(capture, started, args) for capture in args.capture}
        # Last: its passes create and delete 240,000 nodes, whose clean-up in Neo4j would stall the windows.
        passes = raw_write_limit(started["neo4j"], args.batch_size)
        limit = statistics.median(passes)
        results.update(raw_write_limit=round(limit), raw_write_passes=[round(r) for r in passes])
        for capture in args.capture:
            highest = results[capture]["highest_sustained_rate"]
            results[capture]["share_of_raw_limit"] = round(highest / limit, 2) if highest else None
            if "backlog" in results[capture]:
                drained = results[capture]["backlog"]["rows_per_s"]
                results[capture]["backlog"]["share_of_raw_limit"] = round(drained / limit, 2)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
