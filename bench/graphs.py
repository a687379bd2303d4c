"""Graph to graph throughput, Neo4j -> FalkorDB, side by side in one run:

- graphsync: `graphsync run` in snapshot mode (a full rebuild, built aside and
  switched in), a child process, so its peak memory is its own;
- direct: the same nodes and relationships read from Neo4j by the same key
  ranges and written with the simplest UNWIND MERGE into FalkorDB (no version
  guard, no tombstones, no build-aside): the limit the engine is measured against.

The graph: people (7 properties) and companies, 2 KNOWS per person and one
WORKS_AT, so relationships are three times the people. Peak memory is measured
at two graph sizes to show it does not grow with the graph.

    .venv/bin/python -m bench.graphs --people 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import neo4j
from tests import graphs

from bench import common
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb import params
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process
from graphsync_dev.service import Service

DIRECT_NODES = "UNWIND $rows AS row MERGE (n:{label} {{id: row.id}}) SET n += row"
DIRECT_RELS = (
    "UNWIND $rows AS row MATCH (a:Person {{id: row.src}}), (b:{target} {{id: row.dst}}) "
    "MERGE (a)-[r:{type}]->(b) SET r += row.props"
)


def build(driver: neo4j.Driver, people: int) -> int:
    with driver.session() as session:
        session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()
    for statement in (
        "CREATE INDEX bench_person IF NOT EXISTS FOR (n:Person) ON (n.id)",
        "CREATE INDEX bench_company IF NOT EXISTS FOR (n:Company) ON (n.id)",
    ):
        driver.execute_query(statement)
    driver.execute_query("CALL db.awaitIndexes(300)")
    return graphs.build(driver.execute_query, people=people, companies=max(people // 100, 1), knows_per_person=2)


def collected(neo: neo4j.Driver, query: str, **params: Any) -> list[Any]:
    """Rows returned as one collected list: the fastest way to read many through the Python driver."""
    [record] = neo.execute_query(query, params).records
    return list(record["rows"])


def direct(neo: neo4j.Driver, target: falkor_graph.Graph, batch: int) -> int:
    """Copy by start-key ranges, read as graphsync reads them (collected), written with plain UNWIND MERGE.

    Returns the number of entities written.
    """
    for label in ("Person", "Company"):
        target.ensure_index(f"CREATE INDEX FOR (n:{label}) ON (n.id)")
    written = 0
    for label in ("Person", "Company"):
        last = None
        while True:
            rows = collected(
                neo,
                f"MATCH (n:{label}) WHERE $last IS NULL OR n.id > $last WITH n ORDER BY n.id LIMIT $limit "
                "RETURN collect(properties(n)) AS rows",
                last=last,
                limit=batch,
            )
            if not rows:
                break
            target.transaction([params.header({"rows": rows}) + DIRECT_NODES.format(label=label)])
            written += len(rows)
            last = rows[-1]["id"]
    for rel_type, end in (("KNOWS", "Person"), ("WORKS_AT", "Company")):
        last = None
        while True:
            keys = collected(
                neo,
                "MATCH (n:Person) WHERE $last IS NULL OR n.id > $last WITH n.id AS id ORDER BY id LIMIT $limit "
                "RETURN collect(id) AS rows",
                last=last,
                limit=batch,
            )
            if not keys:
                break
            rows = collected(
                neo,
                f"MATCH (a:Person)-[r:{rel_type}]->(b:{end}) WHERE a.id >= $low AND a.id <= $high "
                "RETURN collect({src: a.id, dst: b.id, props: properties(r)}) AS rows",
                low=keys[0],
                high=keys[-1],
            )
            if rows:
                target.transaction([params.header({"rows": rows}) + DIRECT_RELS.format(target=end, type=rel_type)])
            written += len(rows)
            last = keys[-1]
    return written


def measure(people: int, memory_people: int, batch: int, repeats: int) -> dict[str, Any]:
    with common.servers(["falkordb"]) as started:
        falkor = started["falkordb"]
        workdir = Path(tempfile.mkdtemp(prefix="graphsync-bench-"))
        neo = neo4j_server.start(workdir, heap="2g")
        try:
            return _measure(neo, falkor, workdir, people, memory_people, batch, repeats)
        finally:
            for pid in neo.pids:
                process.stop(pid)


def _measure(
    neo: Service, falkor: Service, workdir: Path, people: int, memory_people: int, batch: int, repeats: int
) -> dict[str, Any]:
    url = falkor.env["GRAPHSYNC_FALKORDB_URL"]
    spec: dict[str, Any] = {
        "source": {"neo4j": {"uri": neo.env["GRAPHSYNC_NEO4J_URI"]}},
        "target": {"falkordb": {"url": url, "graph": "bench"}},
        "mappings": graphs.MAPPINGS,
        "mode": "snapshot",
        "batchSize": batch,
    }
    results: dict[str, Any] = {"people": people, "batch": batch, "repeats": repeats}
    target = falkor_graph.connect(url, "bench")
    with neo4j_server.driver(neo.env) as driver:

        def graphsync(name: str, expected: int) -> tuple[float, int]:
            target.drop()
            seconds, rss, out = common.run_cli({**spec, "name": name}, workdir, {})
            created = json.loads(out.strip().splitlines()[-1])["created"]
            if created != expected:
                raise RuntimeError(f"graphsync created {created} entities, expected {expected}")
            return seconds, rss

        # The small run doubles as the JVM's warm-up, so no contender meets a cold Neo4j.
        small = build(driver, memory_people)
        _, small_rss = graphsync("warm", memory_people + max(memory_people // 100, 1) + small)
        relationships = build(driver, people)
        entities = people + max(people // 100, 1) + relationships
        results["entities"] = entities
        ours: list[float] = []
        theirs: list[float] = []
        big_rss = 0
        for i in range(repeats):
            target.drop()
            started = time.perf_counter()
            if direct(driver, target, batch) != entities:
                raise RuntimeError("the direct copy missed entities")
            theirs.append(time.perf_counter() - started)
            seconds, rss = graphsync(f"run-{i}", entities)
            ours.append(seconds)
            big_rss = max(big_rss, rss)
    target.close()
    results["graphsync_seconds"] = [round(s, 2) for s in ours]
    results["graphsync_entities_per_s"] = round(entities / common.median(ours))
    results["direct_seconds"] = [round(s, 2) for s in theirs]
    results["direct_entities_per_s"] = round(entities / common.median(theirs))
    results["graphsync_vs_direct"] = round(results["graphsync_entities_per_s"] / results["direct_entities_per_s"], 3)
    results["graphsync_peak_rss_mib"] = {
        str(memory_people): round(small_rss / 1024, 1),
        str(people): round(big_rss / 1024, 1),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--memory-people", type=int, default=10_000, help="the smaller size for the memory comparison")
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of direct and graphsync; medians")
    args = parser.parse_args()
    print(json.dumps(measure(args.people, args.memory_people, args.batch, args.repeats), indent=2))


if __name__ == "__main__":
    main()
