"""`graphsync-dev demo`: the operator syncs a sample shop, PostgreSQL -> Redis Streams -> Neo4j.

It runs on the servers of `graphsync-dev up`. kwok plays the node, so nothing would run
the worker pod the operator's Deployment asks for: `graphsync_dev.kubelet` runs it
here, from the Pod's own spec. The operator and that worker keep running after the
command returns, recorded in the substrate's state so `graphsync-dev down` stops them
with the servers; running the demo again stops them first and starts over. `--engine` runs
the same shop through the engine alone (`graphsync run`, no Kubernetes).
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

import neo4j
import psycopg
import redis
import yaml

from graphsync_dev import kubelet, process, sample, shop, substrate
from graphsync_dev import neo4j as neo4j_server
from graphsync_dev.kube import kubectl
from graphsync_dev.process import ProcessSpec, SubstrateError
from graphsync_dev.service import Service
from graphsync_operator.api.crds import all_crds, render
from graphsync_operator.api.specs import API_VERSION

NAMESPACE = "graphsync-demo"
PIPELINE = "shop"
SECRET = "shop-db"  # noqa: S105 - the name of a Secret, not a password
NEEDED = ("postgres", "redis", "neo4j", "kubernetes")
# Their names in the substrate's state.
OPERATOR = "operator"
WORKER = f"worker-{PIPELINE}"
WORKERS = f"app.kubernetes.io/instance={PIPELINE},app.kubernetes.io/component=sync"
# Quicker than the defaults (10 s and 5 s), so the status follows the demo closely.
TIMING = {"GRAPHSYNC_HEARTBEAT_SECONDS": "2", "GRAPHSYNC_STATUS_INTERVAL": "2"}
BIN = Path(sys.executable).parent


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "demo", help="run the operator on the servers of `graphsync-dev up` and let it sync a sample shop"
    )
    command.add_argument(
        "--engine", action="store_true", help="sync the shop with the engine alone (`graphsync run`), no operator"
    )
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    # The graph is polled before the labels and types it counts exist: Neo4j's notifications say so, at length.
    logging.getLogger("neo4j.notifications").setLevel(logging.ERROR)
    try:
        return shop.run_demo(sys.stdout) if args.engine else run(sys.stdout)
    except SubstrateError as exc:
        print(f"graphsync-dev demo: {exc}", file=sys.stderr)
        return 1


def pipeline_manifest(env: Mapping[str, str]) -> dict[str, Any]:
    """The SyncPipeline: the shop's tables into Neo4j through Redis Streams, passwords from the Secret."""
    neo4j: dict[str, Any] = {"uri": env["GRAPHSYNC_NEO4J_URI"], "user": env.get("GRAPHSYNC_NEO4J_USER", "neo4j")}
    if env.get("GRAPHSYNC_NEO4J_PASSWORD"):
        neo4j["password"] = {"secretKeyRef": {"name": SECRET, "key": "neo4j-password"}}
    pg_url = f"postgresql://{env['GRAPHSYNC_PG_USER']}@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres"
    spec = {
        "mode": "snapshotThenStream",
        "source": {
            "postgres": {
                "url": pg_url,
                "password": {"secretKeyRef": {"name": SECRET, "key": "pg-password"}},
                "schema": shop.ENGINE_SCHEMA,
                "capture": "triggers",
            }
        },
        "transport": {"redisStreams": {"url": env["GRAPHSYNC_REDIS_URL"], "partitions": 4}},
        "target": {"neo4j": neo4j},
        "mappings": sample.mappings(shop.SCHEMA),
        "batchSize": 500,
    }
    metadata = {"name": PIPELINE, "namespace": NAMESPACE}
    return {"apiVersion": API_VERSION, "kind": "SyncPipeline", "metadata": metadata, "spec": spec}


def run(out: TextIO) -> int:
    began = time.monotonic()

    def step(heading: str) -> None:
        print(f"\n== {heading} ({time.monotonic() - began:.0f}s) ==", file=out, flush=True)

    run_dir = substrate.dev_run_dir()
    env = _servers(run_dir)
    if _stop_previous(run_dir):
        print("stopped the previous demo's operator and worker", file=out)

    step("loading the shop sample into PostgreSQL")
    with psycopg.connect(env["GRAPHSYNC_PG_DSN"], autocommit=True) as conn:
        shop.load_shop(conn, env)
    _drop_streams(env)
    print(f"{shop.LOADED} in schema {shop.SCHEMA}; earlier runs' graph and streams cleared", file=out)

    step(f"applying the CRDs, namespace {NAMESPACE} and Secret {SECRET}")
    _cluster(env, out)

    step("starting the operator")
    operator = _start_operator(env, run_dir)
    print(f"graphsync-operator run -n {NAMESPACE}: pid {operator.pids[0]}, log {operator.logs[0]}", file=out)

    step(f"applying SyncPipeline {PIPELINE}")
    old_pods = set(kubelet.pods(env, NAMESPACE, WORKERS))
    _ok(env, "delete", "sp", PIPELINE, "-n", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=60s")
    manifest = run_dir / f"{PIPELINE}-syncpipeline.yaml"
    manifest.write_text(yaml.safe_dump(pipeline_manifest(env), sort_keys=False))
    _ok(env, "apply", "-f", str(manifest))
    print(f"manifest: {manifest}  (kubectl apply -f it yourself; passwords come from Secret {SECRET})", file=out)

    step("running the worker pod the operator made (kwok has no kubelet: it runs here as a process)")
    worker = _run_worker(env, run_dir, old_pods, out)

    with psycopg.connect(env["GRAPHSYNC_PG_DSN"], autocommit=True) as conn, neo4j_server.driver(env) as driver:
        _wait(lambda: _graph_matches(conn, driver), "the snapshot in Neo4j", 120)
        print("the snapshot is in Neo4j; the worker now streams changes", file=out)
        step("changing rows in PostgreSQL")
        shop.change_shop(conn)
        changed = time.monotonic()
        print(f"{shop.CHANGED}; waiting for the graph", file=out, flush=True)
        _wait(lambda: _graph_matches(conn, driver), "the changes in Neo4j", 120)
    print(f"Neo4j reflects them {time.monotonic() - changed:.1f}s later (outbox -> Redis Streams -> worker)", file=out)
    _wait(lambda: _condition(_status(env), "InSync").get("status") == "True", "InSync", 30, fail=False)

    step("what Kubernetes says")
    _report(env, out)
    print(f"\ndemo done in {time.monotonic() - began:.0f}s; the operator and the worker keep running.", file=out)
    print("explore (`make down` stops everything):", file=out)
    print(f"  export KUBECONFIG={env['KUBECONFIG']}", file=out)
    print(f"  export PATH={Path(env['GRAPHSYNC_KUBECTL']).parent}:$PATH   # for kubectl", file=out)
    print(f"  kubectl get sp -n {NAMESPACE}", file=out)
    print(f"  kubectl describe sp {PIPELINE} -n {NAMESPACE}", file=out)
    print(f"  tail -f {operator.logs[0]} {worker.log_path}", file=out)
    return 0


def _cluster(env: Mapping[str, str], out: TextIO) -> None:
    crds = list(all_crds().values())
    _apply(env, "---\n".join(render(crd) for crd in crds))
    for crd in crds:
        _established(env, crd["metadata"]["name"])
    _apply(env, json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}))
    _apply(env, json.dumps(_secret(env)))
    print(", ".join(crd["metadata"]["name"] for crd in crds) + " established", file=out)


def _run_worker(env: Mapping[str, str], run_dir: Path, old_pods: set[str], out: TextIO) -> kubelet.RunningPod:
    """Run the pipeline's new worker pod here, record it, and wait until the pipeline is Ready."""
    pod = _wait(lambda: [p for p in kubelet.pods(env, NAMESPACE, WORKERS) if p not in old_pods], "a worker pod", 90)[0]
    worker = kubelet.run_pod(env, NAMESPACE, pod, run_dir / "pods", python_bin=BIN)
    _record(run_dir, Service(WORKER, (worker.pid,), {}, (str(worker.log_path),)))
    print(f"pod {pod}: pid {worker.pid}, log {worker.log_path}", file=out, flush=True)
    ready = ("wait", "--for=condition=Ready", f"syncpipeline/{PIPELINE}", "-n", NAMESPACE, "--timeout=120s")
    waited = _kubectl(env, *ready)
    if waited.returncode != 0:
        raise SubstrateError(
            f"SyncPipeline {PIPELINE} did not become Ready: {waited.stderr.strip()}\n"
            f"status: {json.dumps(_status(env), indent=1)}\nworker log {worker.log_path}:\n"
            + process.log_tail(worker.log_path)
        )
    print(f"kubectl {' '.join(ready)}: {waited.stdout.strip()}", file=out)
    return worker


def _report(env: Mapping[str, str], out: TextIO) -> None:
    print(f"$ kubectl get syncpipelines -n {NAMESPACE} -o wide", file=out)
    print(_ok(env, "get", "syncpipelines", "-n", NAMESPACE, "-o", "wide").rstrip(), file=out)
    status = _status(env)
    print("", file=out)
    for kind in ("Ready", "InSync"):
        found = _condition(status, kind)
        summary = f"{found.get('status', '?'):<6} {found.get('reason', '')}: {found.get('message', '')}"
        print(f"{kind:<7} {summary}", file=out)
    shop.show_graph(env, out)


def _servers(run_dir: Path) -> dict[str, str]:
    services = {s.name: s for s in substrate.load_state(run_dir)}
    missing = [name for name in NEEDED if name not in services or not substrate.check(services[name])[0]]
    if missing:
        raise SubstrateError(
            f"the demo needs {', '.join(missing)} running: start them with `graphsync-dev up` (or `make demo`)"
        )
    return substrate.merged_env(services[name] for name in NEEDED)


def _stop_previous(run_dir: Path) -> bool:
    """Stop a previous demo's worker and operator, and drop them from the state; True when there were any."""
    services = substrate.load_state(run_dir)
    ours = [s for s in services if s.name in (WORKER, OPERATOR)]
    for service in sorted(ours, key=lambda s: s.name != WORKER):  # the worker first
        for pid in service.pids:
            if process.alive(pid):
                process.stop(pid)
    substrate.save_state(run_dir, [s for s in services if s not in ours])
    return bool(ours)


def _record(run_dir: Path, service: Service) -> None:
    """Add a process to the substrate's state, first: `dev down` stops it before the servers it uses."""
    others = [s for s in substrate.load_state(run_dir) if s.name != service.name]
    substrate.save_state(run_dir, [service, *others])


def _drop_streams(env: Mapping[str, str]) -> None:
    """Earlier runs' streams, consumer groups and pending entries of this pipeline (`graphsync:shop:*`)."""
    client = redis.Redis.from_url(env["GRAPHSYNC_REDIS_URL"])
    try:
        keys = list(client.scan_iter(match=f"graphsync:{PIPELINE}:*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def _secret(env: Mapping[str, str]) -> dict[str, Any]:
    values = {"pg-password": env["GRAPHSYNC_PG_PASSWORD"]}
    if env.get("GRAPHSYNC_NEO4J_PASSWORD"):
        values["neo4j-password"] = env["GRAPHSYNC_NEO4J_PASSWORD"]
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }


def _start_operator(env: Mapping[str, str], run_dir: Path) -> Service:
    script = BIN / "graphsync-operator"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "graphsync_operator.cli"]
    liveness = f"http://127.0.0.1:{process.free_port()}/healthz"
    spec = ProcessSpec(
        name="graphsync-operator",
        argv=[*command, "run", "-n", NAMESPACE, "--liveness", liveness],
        log_path=run_dir / "operator.log",
        env={"KUBECONFIG": env["KUBECONFIG"], **TIMING},
    )
    child = process.start(spec)
    service = Service(OPERATOR, (child.pid,), {}, (str(spec.log_path),))
    _record(run_dir, service)
    process.wait_ready(spec, child, lambda: _answers(liveness), timeout=60)
    return service


def _answers(url: str) -> bool:
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - the operator's loopback endpoint
        return int(response.status) == 200


def _kubectl(env: Mapping[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    try:
        return kubectl(env, *args, input=input)
    except subprocess.TimeoutExpired as exc:
        raise SubstrateError(f"kubectl {' '.join(args)} did not finish in {exc.timeout:.0f}s") from exc


def _ok(env: Mapping[str, str], *args: str, input: str | None = None) -> str:
    result = _kubectl(env, *args, input=input)
    if result.returncode != 0:
        raise SubstrateError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def _apply(env: Mapping[str, str], documents: str) -> None:
    # Server-side: no last-applied annotation (a copy of the Secret's data, or of a CRD too big for one).
    _ok(env, "apply", "--server-side", "--field-manager=graphsync-demo", "-f", "-", input=documents)


def _established(env: Mapping[str, str], crd: str) -> None:
    # Right after creation kubectl may find no conditions at all and give up instead of waiting.
    def established() -> bool:
        args = ("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=30s")
        return _kubectl(env, *args).returncode == 0

    _wait(established, f"CRD {crd} to be established", 60)


def _status(env: Mapping[str, str]) -> dict[str, Any]:
    found = json.loads(_ok(env, "get", "sp", PIPELINE, "-n", NAMESPACE, "-o", "json"))
    return dict(found.get("status") or {})


def _condition(status: Mapping[str, Any], kind: str) -> dict[str, Any]:
    return next((dict(c) for c in status.get("conditions", []) if c.get("type") == kind), {})


def _wait(check: Callable[[], Any], what: str, timeout: float, *, fail: bool = True) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            if fail:
                raise SubstrateError(f"timed out after {timeout:.0f}s waiting for {what}")
            return found
        time.sleep(0.5)
    return found


_PG_COUNTS = """
SELECT (SELECT count(*) FROM shop.customer), (SELECT count(*) FROM shop.customer WHERE tier = 'gold'),
       (SELECT count(*) FROM shop.product), (SELECT count(*) FROM shop.orders),
       (SELECT count(*) FROM shop.orders WHERE customer_id = 1), (SELECT count(*) FROM shop.likes)
"""
_GRAPH_COUNTS = """
CALL () { MATCH (n:Customer) RETURN count(n) AS customers }
CALL () { MATCH (n:Customer {tier: 'gold'}) RETURN count(n) AS gold }
CALL () { MATCH (n:Product) RETURN count(n) AS products }
CALL () { MATCH (n:Order)-[:PLACED_BY]-(:Customer) RETURN count(n) AS orders }
CALL () { MATCH (n:Order)-[:PLACED_BY]-(:Customer {id: 1}) RETURN count(n) AS first }
CALL () { MATCH (:Customer)-[r:LIKES]-(:Product) RETURN count(r) AS likes }
RETURN customers, gold, products, orders, first, likes
"""


def _graph_matches(conn: psycopg.Connection[Any], driver: neo4j.Driver) -> bool:
    """Do the graph's counts (customers, gold ones, products, placed orders, customer 1's, likes) match the tables'?"""
    expected = conn.execute(_PG_COUNTS).fetchone()
    records, _, _ = driver.execute_query(_GRAPH_COUNTS)
    return expected is not None and tuple(expected) == tuple(records[0].values())
