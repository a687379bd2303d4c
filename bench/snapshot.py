"""Snapshot throughput, PostgreSQL -> Neo4j, side by side in one run:

- graphsync: `graphsync run` in snapshot mode (a child process, so its peak memory is its own);
- raw: the same rows, read by keyset pages and written with the simplest UNWIND MERGE
  (no version guard, no tombstones): the limit the engine is measured against;
- naive: one MERGE per row, each its own transaction, on a sample (its rate is the figure).

Half the rows are customers, half are orders pointing at a customer (a relationship
each). Peak memory is measured at two table sizes to show it does not grow with them.

    .venv/bin/python -m bench.snapshot --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, LiteralString

import neo4j
import psycopg

from bench import common
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process
from graphsync_dev.service import Service

SCHEMA = "bench"
NODES: dict[str, Any] = {
    "nodes": [
        {"name": "customer", "table": "bench.customer", "labels": ["Customer"], "key": "id"},
        {
            "name": "orders",
            "table": "bench.orders",
            "labels": ["Order"],
            "key": "id",
            "foreignKeys": [{"column": "customer_id", "references": "customer", "type": "PLACED_BY"}],
        },
    ]
}


def load(pg: Service, rows: int) -> None:
    half = rows // 2
    with common.connect(pg) as conn:
        conn.execute("DROP SCHEMA IF EXISTS bench CASCADE")
        conn.execute("CREATE SCHEMA bench")
        conn.execute("CREATE TABLE bench.customer (id int PRIMARY KEY, name text, email text, score int)")
        conn.execute("CREATE TABLE bench.orders (id int PRIMARY KEY, customer_id int, total bigint, note text)")
        conn.execute(
            "INSERT INTO bench.customer SELECT i, 'name ' || i, 'c' || i || '@x.io', i %% 100"
            " FROM generate_series(1, %s) AS i",
            (half,),
        )
        conn.execute(
            "INSERT INTO bench.orders SELECT i, (i * 7) %% %s + 1, i * 10, 'order ' || i"
            " FROM generate_series(1, %s) AS i",
            (half, half),
        )
        conn.execute("VACUUM ANALYZE bench.customer")
        conn.execute("VACUUM ANALYZE bench.orders")


def empty(driver: neo4j.Driver) -> None:
    with driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()
        for record in session.run("SHOW CONSTRAINTS YIELD name").data():
            session.run("DROP CONSTRAINT $name", name=record["name"]).consume()
        for record in session.run("SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP'").data():
            session.run("DROP INDEX $name", name=record["name"]).consume()
        session.run("CREATE CONSTRAINT FOR (c:Customer) REQUIRE c.id IS UNIQUE").consume()
        session.run("CREATE CONSTRAINT FOR (o:Order) REQUIRE o.id IS UNIQUE").consume()


def pages(pg: Service, table: str, size: int) -> Any:
    with common.connect(pg) as conn:
        last = 0
        while True:
            rows = conn.execute(
                psycopg.sql.SQL("SELECT to_jsonb(t) FROM bench.{} t WHERE id > %s ORDER BY id LIMIT %s").format(
                    psycopg.sql.Identifier(table)
                ),
                (last, size),
            ).fetchall()
            if not rows:
                return
            docs = [row[0] for row in rows]
            last = docs[-1]["id"]
            yield docs


def _write_rows(tx: neo4j.ManagedTransaction, query: LiteralString, rows: list[Any]) -> neo4j.ResultSummary:
    return tx.run(query, rows=rows).consume()


def raw(pg: Service, driver: neo4j.Driver, batch: int) -> None:
    with driver.session() as session:
        for docs in pages(pg, "customer", batch):
            session.execute_write(_write_rows, "UNWIND $rows AS row MERGE (c:Customer {id: row.id}) SET c += row", docs)
        for docs in pages(pg, "orders", batch):
            session.execute_write(
                _write_rows,
                "UNWIND $rows AS row MERGE (o:Order {id: row.id}) SET o += row"
                " MERGE (c:Customer {id: row.customer_id}) MERGE (o)-[:PLACED_BY]->(c)",
                docs,
            )


def naive(pg: Service, driver: neo4j.Driver, sample: int) -> int:
    written = 0
    with driver.session() as session:
        for docs in pages(pg, "orders", 1000):
            for doc in docs:
                session.run(
                    "MERGE (o:Order {id: $row.id}) SET o += $row"
                    " MERGE (c:Customer {id: $row.customer_id}) MERGE (o)-[:PLACED_BY]->(c)",
                    row=doc,
                ).consume()
                written += 1
            if written >= sample:
                return written
    return written


def measure(rows: int, naive_rows: int, batch: int, memory_rows: int, repeats: int) -> dict[str, Any]:
    # Neo4j gets a bigger heap than the substrate's default: a million-row graph is the point.
    with common.servers(["postgres"]) as started:
        pg = started["postgres"]
        workdir = Path(tempfile.mkdtemp(prefix="graphsync-bench-"))
        neo = neo4j_server.start(workdir, heap="2g")
        try:
            return _measure(pg, neo, workdir, rows, naive_rows, batch, memory_rows, repeats)
        finally:
            for pid in neo.pids:
                process.stop(pid)


def _measure(
    pg: Service, neo: Service, workdir: Path, rows: int, naive_rows: int, batch: int, memory_rows: int, repeats: int
) -> dict[str, Any]:
    env = {"GRAPHSYNC_PG_PASSWORD": pg.env["GRAPHSYNC_PG_PASSWORD"]}
    spec = {
        "source": common.pg_spec_source(pg, "bench_graphsync"),
        "target": {"neo4j": {"uri": neo.env["GRAPHSYNC_NEO4J_URI"]}},
        "mappings": NODES,
        "mode": "snapshot",
        "batchSize": batch,
    }
    results: dict[str, Any] = {"rows": rows, "batch": batch, "repeats": repeats}
    with neo4j_server.driver(neo.env) as driver:

        def graphsync(size: int) -> tuple[float, int]:
            empty(driver)
            with common.connect(pg) as conn:
                conn.execute("DROP SCHEMA IF EXISTS bench_graphsync CASCADE")
            seconds, rss, out = common.run_cli({**spec, "name": f"snap-{size}"}, workdir, env)
            created = json.loads(out.strip().splitlines()[-1])["created"]
            if created != size:
                raise RuntimeError(f"graphsync created {created} nodes, expected {size}")
            return seconds, rss

        # The small run doubles as the JVM's warm-up, so no contender meets a cold Neo4j.
        load(pg, memory_rows)
        _, small_rss = graphsync(memory_rows)
        load(pg, rows)
        ours: list[float] = []
        theirs: list[float] = []
        big_rss = 0
        for _ in range(repeats):
            empty(driver)
            started = time.perf_counter()
            raw(pg, driver, batch)
            theirs.append(time.perf_counter() - started)
            seconds, rss = graphsync(rows)
            ours.append(seconds)
            big_rss = max(big_rss, rss)
        results["graphsync_seconds"] = [round(s, 2) for s in ours]
        results["graphsync_rows_per_s"] = round(rows / common.median(ours))
        results["raw_seconds"] = [round(s, 2) for s in theirs]
        results["raw_rows_per_s"] = round(rows / common.median(theirs))
        results["graphsync_peak_rss_mib"] = {
            str(memory_rows): round(small_rss / 1024, 1),
            str(rows): round(big_rss / 1024, 1),
        }

        empty(driver)
        started = time.perf_counter()
        written = naive(pg, driver, naive_rows)
        results["naive_rows"] = written
        results["naive_rows_per_s"] = round(written / (time.perf_counter() - started))
    results["graphsync_vs_raw"] = round(results["graphsync_rows_per_s"] / results["raw_rows_per_s"], 3)
    results["graphsync_vs_naive"] = round(results["graphsync_rows_per_s"] / results["naive_rows_per_s"], 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=100_000, help="the smaller size for the memory comparison")
    parser.add_argument("--naive-rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument(
        "--repeats", type=int, default=2, help="alternating runs of raw and graphsync; medians reported"
    )
    args = parser.parse_args()
    print(json.dumps(measure(args.rows, args.naive_rows, args.batch, args.memory_rows, args.repeats), indent=2))


if __name__ == "__main__":
    main()
