"""Reconciliation of PostgreSQL -> Neo4j with 0.1% drift, side by side in one run:

- graphsync: `graphsync reconcile` (report mode) in a child process, bucket by bucket;
- naive: every entity fetched from both sides into memory, then compared (a child
  process too, running the same mapping and canonical form, so only the method differs).

Both must find exactly the drift made. At the largest size graphsync then repairs,
and a second run must find nothing. Peak memory is measured at two data set sizes
to show whether it grows with them.

    .venv/bin/python -m bench.reconcile --entities 1000000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import neo4j
import yaml
from tests import accounts

from bench import common
from bench.snapshot import empty
from graphsync import connect
from graphsync.change import Change, Operation
from graphsync.commands import specfile
from graphsync.compare.entries import node_entry, target_node_entry
from graphsync.connectors.graphs.reading import canonical
from graphsync.spec.mapping import NodeMapping
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process
from graphsync_dev.service import Service

SCHEMA = "bench_reconcile"
TABLE = f"{SCHEMA}.account"


def naive(spec_path: Path) -> None:
    """Fetch everything, compare everything; prints the counts as JSON."""
    spec = specfile.load(spec_path)
    mapping: NodeMapping = spec.mapped.nodes[0]
    source: dict[Any, Any] = {}
    with connect.postgres(spec.postgres) as conn:
        for (doc,) in conn.execute("SELECT to_jsonb(t) FROM bench_reconcile.account AS t"):
            change = Change("account", doc["id"], Operation.UPSERT, 0, doc)
            entry = node_entry(mapping, change)
            assert entry is not None  # the account mapping has no filter: every row is an entity
            source[doc["id"]] = canonical(entry.content)
    target: dict[Any, Any] = {}
    with connect.neo4j_driver(spec.neo4j) as driver, driver.session() as session:
        query = (
            "MATCH (n:Account) RETURN n.id AS id, properties(n) AS props, labels(n) AS labels,"
            " [[(n)-[:CHILD_OF]->(m:Account) | m.id]] AS ends"
        )
        for record in session.run(query):
            entry = target_node_entry(mapping, record["id"], record["props"], record["labels"], record["ends"])
            if entry is not None:
                target[record["id"]] = canonical(entry.content)
    missing = sorted(set(source) - set(target))
    extra = sorted(set(target) - set(source))
    different = sorted(key for key in source.keys() & target.keys() if source[key] != target[key])
    print(json.dumps({"missing": missing, "extra": extra, "different": different}))


def measure(sizes: list[int], repeats: int) -> dict[str, Any]:
    with common.servers(["postgres"]) as started:
        pg = started["postgres"]
        workdir = Path(tempfile.mkdtemp(prefix="graphsync-bench-"))
        neo = neo4j_server.start(workdir, heap="2g")
        try:
            with neo4j_server.driver(neo.env) as driver:
                return {str(size): _size(pg, neo, driver, workdir, size, repeats) for size in sizes}
        finally:
            for pid in neo.pids:
                process.stop(pid)


def _size(pg: Service, neo: Service, driver: neo4j.Driver, workdir: Path, size: int, repeats: int) -> dict[str, Any]:
    env = {"GRAPHSYNC_PG_PASSWORD": pg.env["GRAPHSYNC_PG_PASSWORD"]}
    with common.connect(pg) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        accounts.load(conn, TABLE, size)
        conn.execute(f"VACUUM ANALYZE {TABLE}")
    empty(driver)
    spec = {
        "name": f"reconcile-{size}",
        "source": common.pg_spec_source(pg, SCHEMA),
        "target": {"neo4j": {"uri": neo.env["GRAPHSYNC_NEO4J_URI"]}},
        "mappings": accounts.mappings(TABLE),
        "mode": "snapshot",
        "batchSize": 5000,
    }
    common.run_cli(spec, workdir, env)
    made = accounts.drift(size)
    accounts.apply_drift(driver, made)
    expected = {"missing": made.deleted, "extra": made.extra, "different": sorted(made.edited + made.unlinked)}
    path = workdir / f"{spec['name']}.yaml"
    path.write_text(yaml.safe_dump(spec))
    runs: dict[str, list[tuple[float, int]]] = {"graphsync": [], "naive": []}
    for _ in range(repeats):
        seconds, peak, out = common.run_cli(spec, workdir, env, "--samples", "1000", command="reconcile", codes=(1,))
        _check(expected, _found(json.loads(out)), "graphsync")
        runs["graphsync"].append((seconds, peak))
        seconds, peak, out = common.run_child(["-m", "bench.reconcile", "--naive", str(path)], env)
        _check(expected, json.loads(out), "naive")
        runs["naive"].append((seconds, peak))
    result: dict[str, Any] = {"drift": made.total}
    for name, measured in runs.items():
        result[f"{name}_seconds"] = [round(s, 2) for s, _ in measured]
        result[f"{name}_peak_mib"] = round(max(p for _, p in measured) / 1024, 1)
    result["ratio"] = round(
        common.median([s for s, _ in runs["naive"]]) / common.median([s for s, _ in runs["graphsync"]]), 3
    )
    seconds, _, out = common.run_cli(spec, workdir, env, "--repair", command="reconcile")
    result["repair_seconds"] = round(seconds, 2)
    result["repaired"] = json.loads(out)["repaired"]
    _, _, out = common.run_cli(spec, workdir, env, command="reconcile")
    result["after_repair"] = json.loads(out)["outcome"]
    return result


def _found(summary: dict[str, Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {"missing": [], "extra": [], "different": []}
    for entity in summary["entities"]:
        for kind in found:
            found[kind] += [item["key"] for item in entity["samples"].get(kind, [])]
            if entity[kind] != len(entity["samples"].get(kind, [])):
                raise AssertionError(f"{kind}: {entity[kind]} found, more than the samples show")
    return {kind: sorted(keys) for kind, keys in found.items()}


def _check(expected: dict[str, list[Any]], found: dict[str, list[Any]], who: str) -> None:
    if found != expected:
        raise AssertionError(f"{who} did not find exactly the drift: {found} != {expected}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entities", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=100_000, help="the second size, for the memory comparison")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--naive", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.naive:
        naive(args.naive)
        return
    print(json.dumps(measure([args.small, args.entities], args.repeats), indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
