"""The whole substrate: which servers exist, starting them together, and their state file.

`graphsync-dev up` and the pytest fixtures both go through `start_all`, so tests
run against exactly the servers a developer starts by hand.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from graphsync_dev import kube, neo4j, postgres, process
from graphsync_dev import redis as redis_server
from graphsync_dev.service import Service


@dataclass(frozen=True)
class Server:
    name: str
    start: Callable[[Path], Service]
    probe: Callable[[Mapping[str, str]], str]


def _neo4j_with_auth(run_dir: Path) -> Service:
    # The demo runs Neo4j with authentication so pipelines use real Secrets.
    return neo4j.start(run_dir, auth=True, password=secrets.token_urlsafe(16))


SERVERS: dict[str, Server] = {
    server.name: server
    for server in (
        Server("postgres", postgres.start, postgres.probe),
        Server("redis", redis_server.start_redis, redis_server.probe_redis),
        Server("falkordb", redis_server.start_falkordb, redis_server.probe_falkordb),
        Server("neo4j", _neo4j_with_auth, neo4j.probe),
        Server("kubernetes", kube.start, kube.probe),
    )
}

STATE_FILE = "state.json"


def new_run_dir(prefix: str = "graphsync-run-") -> Path:
    """A fresh folder for one substrate; PostgreSQL (a dropped-privilege user) must traverse it."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


def dev_run_dir() -> Path:
    """The run folder of `graphsync-dev up`, stable across commands."""
    configured = os.environ.get("GRAPHSYNC_RUN_DIR")
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / f"graphsync-dev-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o711)
    return path


def resolve_names(names: Iterable[str]) -> list[str]:
    """Validate requested server names, keeping the registry's order; empty means all."""
    wanted = [name.strip() for name in names if name.strip()]
    unknown = sorted(set(wanted) - SERVERS.keys())
    if unknown:
        raise process.SubstrateError(f"unknown server(s) {', '.join(unknown)}; choose from {', '.join(SERVERS)}")
    return [name for name in SERVERS if not wanted or name in wanted]


def start_all(names: Sequence[str], run_dir: Path) -> list[Service]:
    """Start servers in parallel; if any fails, stop the others and raise every failure."""
    with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
        futures = {name: pool.submit(SERVERS[name].start, run_dir) for name in names}
    started: list[Service] = []
    failures: list[str] = []
    for name, future in futures.items():
        error = future.exception()
        if error is None:
            started.append(future.result())
        else:
            failures.append(f"{name}: {error}")
    if failures:
        stop_all(started)
        raise process.SubstrateError("\n\n".join(failures))
    return started


def stop_all(services: Iterable[Service]) -> None:
    for service in services:
        for pid in reversed(service.pids):
            process.stop(pid)


def load_state(run_dir: Path) -> list[Service]:
    path = run_dir / STATE_FILE
    if not path.is_file():
        return []
    return [Service.from_dict(item) for item in json.loads(path.read_text())]


def save_state(run_dir: Path, services: Iterable[Service]) -> None:
    path = run_dir / STATE_FILE
    path.write_text(json.dumps([s.to_dict() for s in services], indent=2))
    path.chmod(0o600)  # it holds passwords


def check(service: Service) -> tuple[bool, str]:
    """Is every process alive and does the server answer? With a one-line reason."""
    dead = [pid for pid in service.pids if not process.alive(pid)]
    if dead:
        return False, f"process(es) {', '.join(map(str, dead))} not running"
    if service.name not in SERVERS:  # a process started on the substrate (the operator demo's): alive is all we know
        return True, f"pid {', '.join(map(str, service.pids))}, log {', '.join(service.logs) or 'none'}"
    try:
        return True, SERVERS[service.name].probe(service.env)
    except Exception as exc:  # noqa: BLE001 - status reports any probe failure as unhealthy
        return False, str(exc).splitlines()[0]


def merged_env(services: Iterable[Service]) -> dict[str, str]:
    env: dict[str, str] = {}
    for service in services:
        env.update(service.env)
    return env


def export_lines(env: Mapping[str, str]) -> list[str]:
    return [f"export {key}={shlex.quote(value)}" for key, value in sorted(env.items())]
