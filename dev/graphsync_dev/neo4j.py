"""Neo4j 5.26 LTS Community: the launcher in hack/neo4j, built with Maven from Maven Central."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import neo4j

from graphsync import connect
from graphsync_dev import build, process
from graphsync_dev.paths import source_root
from graphsync_dev.service import Service
from graphsync_dev.tls import Authority, client_tls

VERSION = "5.26.30"
MAIN_CLASS = "io.graphsync.neo4j.Launcher"


def _recipe() -> Path:
    return source_root() / "hack" / "neo4j"


def ensure_built() -> Path:
    """The folder holding the launcher jar and its libraries (`lib/`), built if missing."""
    recipe = _recipe()
    files = [recipe / "pom.xml", *sorted((recipe / "src").rglob("*.java"))]

    def compile_into(folder: Path) -> None:
        # Build a copy, so the checkout stays free of Maven's output.
        work = folder / "build"
        shutil.copytree(recipe, work, ignore=shutil.ignore_patterns("target"))
        build.run_build_step(["mvn", "-q", "-B", "package", "-DskipTests"], cwd=work, log=folder / "build.log")
        shutil.move(work / "target" / "lib", folder / "lib")
        shutil.move(work / "target" / f"graphsync-neo4j-{VERSION}.jar", folder / "graphsync-neo4j.jar")
        shutil.rmtree(work)

    return build.cached_build("neo4j", build.recipe_key(VERSION, files), compile_into)


def start(
    run_dir: Path,
    *,
    auth: bool = False,
    password: str | None = None,
    port: int | None = None,
    heap: str = "1g",
    read_only: bool = False,
    tls: Authority | None = None,
) -> Service:
    """Start a server; `port` and an existing `run_dir` restart one with its data kept. `read_only`: every
    database but `system` refuses writes. `tls`: Bolt takes TLS connections only, each with a client
    certificate `tls` signed; the service's env names the CA and a client certificate for them."""
    home = ensure_built()
    data = run_dir / "neo4j"
    data.mkdir(parents=True, exist_ok=True)
    bolt = port or process.free_port()
    if auth and not password:
        raise process.SubstrateError("neo4j: auth needs a password")
    log = run_dir / "logs" / f"neo4j-{bolt}.log"
    spec = process.ProcessSpec(
        name="neo4j",
        argv=[
            "java",
            f"-Xmx{heap}",
            "-XX:+UseG1GC",
            "-cp",
            f"{home / 'graphsync-neo4j.jar'}{os.pathsep}{home / 'lib' / '*'}",
            MAIN_CLASS,
            "--data-dir",
            str(data),
            "--bolt-port",
            str(bolt),
            "--auth",
            "on" if auth else "off",
            "--read-only",
            "on" if read_only else "off",
            *(["--tls-dir", str(_tls(tls, run_dir))] if tls else []),
        ],
        log_path=log,
        env={"NEO4J_PASSWORD": password} if password else {},
    )
    env = {"GRAPHSYNC_NEO4J_URI": f"bolt://127.0.0.1:{bolt}", "GRAPHSYNC_NEO4J_USER": "neo4j"}
    if password:
        env["GRAPHSYNC_NEO4J_PASSWORD"] = password
    if tls:
        client = tls.issue("neo4j-client", "graphsync")
        env.update(
            {
                _TLS_ENV["ca"]: str(tls.root.cert),
                _TLS_ENV["cert"]: str(client.cert),
                _TLS_ENV["key"]: str(client.key),
            }
        )
    proc = process.start(spec)
    process.wait_ready(spec, proc, lambda: bool(probe(env)), timeout=180)
    return Service(name="neo4j", pids=(proc.pid,), env=env, logs=(str(log),))


def restart(service: Service, run_dir: Path) -> Service:
    """Start a stopped server again on the same port with the same data."""
    port = int(service.env["GRAPHSYNC_NEO4J_URI"].rsplit(":", 1)[1])
    password = service.env.get("GRAPHSYNC_NEO4J_PASSWORD")
    return start(run_dir, auth=password is not None, password=password, port=port)


def driver(env: Mapping[str, str], **options: Any) -> neo4j.Driver:
    """A driver for the server `env` describes; `options` go to the neo4j driver as they are."""
    password = env.get("GRAPHSYNC_NEO4J_PASSWORD")
    auth = (env.get("GRAPHSYNC_NEO4J_USER", "neo4j"), password) if password else None
    tls = connect.neo4j_tls(client_tls(env, _TLS_ENV), "neo4j")
    return neo4j.GraphDatabase.driver(env["GRAPHSYNC_NEO4J_URI"], auth=auth, **tls, **options)


# Where a TLS server's service env names the CA that signed it and a client certificate it takes.
_TLS_ENV = {"ca": "GRAPHSYNC_NEO4J_CA", "cert": "GRAPHSYNC_NEO4J_CLIENT_CERT", "key": "GRAPHSYNC_NEO4J_CLIENT_KEY"}


def _tls(authority: Authority, run_dir: Path) -> Path:
    """The folder the launcher's --tls-dir takes: the server's key and certificate, the CA its clients show."""
    folder = run_dir / "tls"
    server = authority.issue("neo4j-server", "localhost")
    for sub in ("trusted", "revoked"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    (folder / "private.key").write_bytes(server.key.read_bytes())
    (folder / "public.crt").write_bytes(server.cert.read_bytes())
    (folder / "trusted" / "ca.crt").write_bytes(authority.root.cert.read_bytes())
    return folder


def probe(env: Mapping[str, str]) -> str:
    """Ask the server itself which Neo4j it is."""
    uri = env["GRAPHSYNC_NEO4J_URI"]
    if not process.port_open(int(uri.rsplit(":", 1)[1])):
        raise process.SubstrateError(f"neo4j at {uri}: nothing listens on the Bolt port")
    try:
        # An auto-commit query: the driver's managed retries would turn a probe into a 30 s wait.
        with driver(env) as client, client.session() as session:
            component = session.run("CALL dbms.components() YIELD name, versions, edition").single(strict=True)
    except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as exc:
        raise process.SubstrateError(f"neo4j at {uri}: {exc}") from exc
    return f"neo4j {component['versions'][0]} {component['edition']}"
