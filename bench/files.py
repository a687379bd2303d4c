"""Files source throughput, 1 worker against 4, side by side in one run, and peak memory at two repository sizes.

A git repository of JSON graph documents (three nodes and three relationships each,
one of them to the next file's node) is synced in full by `graphsync run` in a child
process, into an emptied target each time, alternating the worker counts.
Peak memory is the child's own, at a small and a large repository.

    .venv/bin/python -m bench.files --files 10000
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from tests import repos

from bench import common
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import process
from graphsync_dev.service import Service


def repository(root: Path, files: int) -> Path:
    repo = root / f"repo-{files}"
    repos.init(repo)
    repos.commit(repo, repos.generate(files), f"{files} documents")
    return repo


class Target:
    def __init__(self, kind: str, service: Service) -> None:
        self.kind = kind
        self._env = service.env

    def spec(self) -> dict[str, Any]:
        if self.kind == "neo4j":
            return {"neo4j": {"uri": self._env["GRAPHSYNC_NEO4J_URI"]}}
        return {"falkordb": {"url": self._env["GRAPHSYNC_FALKORDB_URL"], "graph": "bench"}}

    def empty(self) -> None:
        if self.kind == "falkordb":
            graph = falkor_graph.connect(self._env["GRAPHSYNC_FALKORDB_URL"], "bench")
            graph.drop()
            graph.close()
            return
        with neo4j_server.driver(self._env) as driver, driver.session() as session:
            session.run("MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 20000 ROWS").consume()


def measure(kind: str, files: int, memory_files: int, repeats: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="graphsync-bench-files-"))
    with common.servers(["falkordb"]) as started:
        neo = neo4j_server.start(workdir, heap="2g") if kind == "neo4j" else None
        try:
            target = Target(kind, neo or started["falkordb"])
            return _measure(target, workdir, files, memory_files, repeats)
        finally:
            for pid in neo.pids if neo else ():
                process.stop(pid)


def _measure(target: Target, workdir: Path, files: int, memory_files: int, repeats: int) -> dict[str, Any]:
    small, large = repository(workdir, memory_files), repository(workdir, files)

    def sync(repo: Path, count: int, workers: int, name: str) -> tuple[float, int]:
        target.empty()
        spec = {
            "name": name,
            "source": {"files": {"git": {"url": str(repo), "ref": "main"}, "workers": workers}},
            "target": target.spec(),
            "mode": "snapshot",
        }
        seconds, rss, out = common.run_cli(spec, workdir, {}, "--until-idle")
        synced = json.loads(out.strip().splitlines()[-1])["files"]["succeeded"]
        if synced != count:
            raise RuntimeError(f"graphsync synced {synced} files, expected {count}")
        return seconds, rss

    results: dict[str, Any] = {"target": target.kind, "files": files, "repeats": repeats}
    # The small run doubles as the target's warm-up.
    _, small_rss = sync(small, memory_files, 4, "warm")
    times: dict[int, list[float]] = {1: [], 4: []}
    large_rss = 0
    for i in range(repeats):
        for workers in (1, 4):
            seconds, rss = sync(large, files, workers, f"w{workers}-{i}")
            times[workers].append(seconds)
            large_rss = max(large_rss, rss)
    for workers, runs in times.items():
        results[f"workers_{workers}_seconds"] = [round(s, 2) for s in runs]
        results[f"workers_{workers}_files_per_s"] = round(files / common.median(runs))
    results["speedup_4_vs_1"] = round(common.median(times[1]) / common.median(times[4]), 2)
    results["peak_rss_mib"] = {str(memory_files): round(small_rss / 1024, 1), str(files): round(large_rss / 1024, 1)}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--memory-files", type=int, default=2_000, help="the smaller repository, for memory")
    parser.add_argument("--target", choices=("neo4j", "falkordb"), default="neo4j")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of 1 and 4 workers; medians")
    args = parser.parse_args()
    print(json.dumps(measure(args.target, args.files, args.memory_files, args.repeats), indent=2))


if __name__ == "__main__":
    main()
