"""What capture costs the application: pgbench transactions per second with no capture, with triggers and
with logical capture, each while its worker syncs into Neo4j, as ratios to no capture.

Each transaction of the workload updates one row of `pgbench_accounts` (mapped as nodes); the kinds run in
turn, several rounds, and the medians are compared, so the machine's drift touches them alike.

    .venv/bin/python -m bench.source_cost --seconds 20 --rounds 3
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import common
from graphsync import cleanup
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.service import Service

SCALE = 10
CLIENTS = 4
WORKLOAD = """\\set aid random(1, 100000 * :scale)
\\set delta random(-5000, 5000)
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
"""


def pgbench() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pgbench"))
    if not found:
        raise SystemExit("pgbench not found (it comes with the PostgreSQL server package)")
    return found[-1]


def pg_env(pg: Service) -> dict[str, str]:
    env = pg.env
    return {
        **os.environ,
        "PGHOST": "127.0.0.1",
        "PGPORT": env["GRAPHSYNC_PG_PORT"],
        "PGUSER": env["GRAPHSYNC_PG_USER"],
        "PGPASSWORD": env["GRAPHSYNC_PG_PASSWORD"],
        "PGDATABASE": "postgres",
    }


def spec_for(capture: str, started: dict[str, Service]) -> dict[str, Any]:
    neo = started["neo4j"]
    spec: dict[str, Any] = {
        "name": f"cost-{capture}",
        "source": {"postgres": {**common.pg_spec_source(started["postgres"], "cost_graphsync")["postgres"]}},
        "target": {"neo4j": {"uri": neo.env["GRAPHSYNC_NEO4J_URI"], "password": {"env": "GRAPHSYNC_NEO4J_PASSWORD"}}},
        "mappings": {
            "nodes": [{"name": "account", "table": "public.pgbench_accounts", "labels": ["Account"], "key": "aid"}]
        },
        "batchSize": 1000,
    }
    spec["source"]["postgres"]["capture"] = capture
    if capture != "logical":
        spec["transport"] = {"redisStreams": {"url": started["redis"].env["GRAPHSYNC_REDIS_URL"]}}
    return spec


def tps(pg: Service, script: Path, seconds: float) -> float:
    out = subprocess.run(
        [pgbench(), "-n", "-c", str(CLIENTS), "-j", "2", "-T", str(int(seconds)), "-f", str(script)],
        env=pg_env(pg),
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("tps = "))
    return float(line.split()[2])


def one(capture: str, started: dict[str, Service], script: Path, seconds: float, workdir: Path) -> float:
    """The workload's TPS with this capture kind in place and its worker running ('none': neither)."""
    pg = started["postgres"]
    if capture == "none":
        return tps(pg, script, seconds)
    document = spec_for(capture, started)
    path = workdir / f"{capture}.yaml"
    path.write_text(yaml.safe_dump(document))
    env = {**os.environ, **{k: v for k, v in {**pg.env, **started["neo4j"].env}.items() if k.endswith("PASSWORD")}}
    run = [sys.executable, "-m", "graphsync.cli", "run", "-f", str(path)]
    subprocess.run([*run, "--until-idle"], env=env, check=True, stdout=subprocess.DEVNULL)
    worker = subprocess.Popen(run, env=env, stdout=subprocess.DEVNULL)
    try:
        time.sleep(2)
        return tps(pg, script, seconds)
    finally:
        worker.terminate()
        worker.wait(timeout=120)
        # The next kind starts without this one's triggers or slot.
        os.environ.update({k: v for k, v in env.items() if k.endswith("PASSWORD")})
        cleanup.cleanup(PipelineSpec.model_validate(document))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--capture", nargs="*", default=["none", "triggers", "logical"])
    args = parser.parse_args()
    with common.servers(["postgres", "redis", "neo4j"]) as started:
        pg = started["postgres"]
        subprocess.run([pgbench(), "-i", "-q", "-s", str(SCALE)], env=pg_env(pg), check=True, capture_output=True)
        workdir = Path(tempfile.mkdtemp(prefix="graphsync-bench-"))
        script = workdir / "update.sql"
        script.write_text(WORKLOAD)
        samples: dict[str, list[float]] = {capture: [] for capture in args.capture}
        for _ in range(args.rounds):
            for capture in args.capture:
                samples[capture].append(one(capture, started, script, args.seconds, workdir))
    medians = {capture: round(common.median(values), 1) for capture, values in samples.items()}
    base = medians.get("none")
    results = {
        "clients": CLIENTS,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "tps": samples,
        "median_tps": medians,
        "ratio_to_no_capture": {c: round(v / base, 3) for c, v in medians.items()} if base else None,
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
