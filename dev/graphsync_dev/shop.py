"""`graphsync-dev demo --engine`: a sample PostgreSQL -> Neo4j pipeline on the running substrate, end to end.

It loads the shop sample into PostgreSQL, writes the pipeline spec next to the
substrate's state (so you can run it yourself with `graphsync run -f`), syncs it
into Neo4j (snapshot, then the change stream), changes some rows, syncs again,
and shows what landed in the graph and the outbox's event status.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any, TextIO

import psycopg
import yaml

from graphsync.commands.progress import Progress, summary_text
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev import sample, substrate
from graphsync_dev.process import SubstrateError

SCHEMA = "shop"
ENGINE_SCHEMA = "shop_graphsync"
NEEDED = ("postgres", "redis", "neo4j")
LOADED = "500 customers, 500 products, 1,000 orders, 500 likes"
CHANGED = "50 customers upgraded, 10 orders moved, 10 customers deleted (cascading)"


def spec_document(env: Mapping[str, str]) -> dict[str, Any]:
    return {
        "name": "shop-demo",
        "mode": "snapshotThenStream",
        "source": {
            "postgres": {
                "url": f"postgresql://{env['GRAPHSYNC_PG_USER']}@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres",
                "password": {"env": "GRAPHSYNC_PG_PASSWORD"},
                "schema": ENGINE_SCHEMA,
                "capture": "triggers",
            }
        },
        "transport": {"redisStreams": {"url": env["GRAPHSYNC_REDIS_URL"], "partitions": 4}},
        "target": {
            "neo4j": {
                "uri": env["GRAPHSYNC_NEO4J_URI"],
                "user": env.get("GRAPHSYNC_NEO4J_USER", "neo4j"),
                "password": {"env": "GRAPHSYNC_NEO4J_PASSWORD"},
            }
        },
        "mappings": sample.mappings(SCHEMA),
        "batchSize": 500,
    }


def run_demo(out: TextIO) -> int:
    run_dir = substrate.dev_run_dir()
    services = {s.name: s for s in substrate.load_state(run_dir)}
    missing = [name for name in NEEDED if name not in services or not substrate.check(services[name])[0]]
    if missing:
        raise SubstrateError(f"the demo needs {', '.join(missing)} running: start them with `graphsync-dev up`")
    env = substrate.merged_env(services.values())
    os.environ.update({k: v for k, v in env.items() if k.endswith("_PASSWORD")})

    document = spec_document(env)
    spec_path = run_dir / "shop-pipeline.yaml"
    spec_path.write_text(yaml.safe_dump(document, sort_keys=False))
    spec = PipelineSpec.model_validate(document)
    print(f"pipeline spec: {spec_path}", file=out)

    with psycopg.connect(env["GRAPHSYNC_PG_DSN"], autocommit=True) as conn:
        load_shop(conn, env)
        print(f"loaded {LOADED} into PostgreSQL schema shop", file=out)

        print("\n== first sync: snapshot, then the change stream ==", file=out)
        _sync(spec, out)
        change_shop(conn)
        print(f"\nchanged PostgreSQL: {CHANGED}", file=out)
        print("\n== second sync: only the changes, through outbox -> Redis Streams -> Neo4j ==", file=out)
        _sync(spec, out)
        _show_outbox(conn, out)
    show_graph(env, out)
    print(f"\nrun it yourself:  graphsync run -f {spec_path}", file=out)
    return 0


def load_shop(conn: psycopg.Connection[Any], env: Mapping[str, str]) -> None:
    """Drop the shop and what earlier syncs made of it (engine schema, graph), then load it afresh."""
    _reset(conn, env)
    sample.create(conn, SCHEMA)
    sample.seed(conn, SCHEMA, customers=500)


def change_shop(conn: psycopg.Connection[Any]) -> None:
    """The demo's edits, described by CHANGED."""
    conn.execute("UPDATE shop.customer SET tier = 'gold' WHERE id <= 50")
    conn.execute("UPDATE shop.orders SET customer_id = 1 WHERE id BETWEEN 10 AND 19")
    conn.execute("DELETE FROM shop.customer WHERE id > 490")


def _reset(conn: psycopg.Connection[Any], env: Mapping[str, str]) -> None:
    conn.execute("DROP SCHEMA IF EXISTS shop CASCADE")
    conn.execute("DROP SCHEMA IF EXISTS shop_graphsync CASCADE")
    with neo4j_server.driver(env) as driver:
        driver.execute_query(
            "MATCH (n) WHERE n:Customer OR n:Product OR n:Order OR n:GraphsyncTombstone DETACH DELETE n"
        )


def _sync(spec: PipelineSpec, out: TextIO) -> None:
    progress = Progress(out)
    stats = run.run(spec, RunControl(stop=threading.Event(), until_idle=True, on_batch=progress))
    progress.finish()
    print(summary_text(stats.summary()), file=out)


def _show_outbox(conn: psycopg.Connection[Any], out: TextIO) -> None:
    counts = Outbox(ENGINE_SCHEMA).counts(conn)
    print("\noutbox events: " + ", ".join(f"{s.value} {n:,}" for s, n in counts.items()), file=out)


def show_graph(env: Mapping[str, str], out: TextIO) -> None:
    with neo4j_server.driver(env) as driver:
        nodes, _, _ = driver.execute_query(
            "MATCH (n) UNWIND labels(n) AS label WITH label WHERE NOT label STARTS WITH 'Graphsync' "
            "RETURN label, count(*) AS n ORDER BY label"
        )
        rels, _, _ = driver.execute_query("MATCH ()-[r]->() RETURN type(r) AS type, count(*) AS n ORDER BY type")
        gold, _, _ = driver.execute_query("MATCH (c:Customer {tier: 'gold'}) RETURN count(c) AS n")
    print("\nin Neo4j:", file=out)
    for record in [*nodes, *rels]:
        print(f"  {record[0]:<10} {record['n']:>6,}", file=out)
    print(f"  gold customers: {gold[0]['n']}", file=out)
