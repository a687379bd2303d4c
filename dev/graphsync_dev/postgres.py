"""PostgreSQL 15 from Debian, with `wal_level=logical`, run as a non-root user."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import psycopg

from graphsync_dev import process
from graphsync_dev.service import Service
from graphsync_dev.tls import Authority

VERSION = "15"
_BINDIRS = (Path(f"/usr/lib/postgresql/{VERSION}/bin"),)


def bindir() -> Path:
    configured = os.environ.get("GRAPHSYNC_PG_BINDIR")
    candidates = (Path(configured),) if configured else _BINDIRS
    for candidate in candidates:
        if (candidate / "postgres").is_file():
            return candidate
    raise process.SubstrateError(
        f"PostgreSQL {VERSION} binaries not found in {', '.join(map(str, candidates))}; "
        f"run hack/bootstrap.sh (apt-get install postgresql-{VERSION}) or set GRAPHSYNC_PG_BINDIR"
    )


def dsn(env: Mapping[str, str]) -> str:
    return env["GRAPHSYNC_PG_DSN"]


def start(run_dir: Path, *, tls: Authority | None = None) -> Service:
    """With `tls`, the server takes TLS connections only, each with a client certificate `tls` signed for the
    user (and the password): the exported DSN carries the client's files and checks the server's name."""
    user = process.run_as_user()
    home = run_dir / "postgres"
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(16)
    pwfile = home / "pwfile"
    pwfile.write_text(password + "\n")
    process.chown_for(home, user)
    log = run_dir / "logs" / "postgres.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    _initdb(data, pwfile, user, log)
    pwfile.unlink()

    port = process.free_port()
    if tls:
        _tls(tls, home, data, user)
    spec = _process(data, port, log, user)
    env = {
        "GRAPHSYNC_PG_HOST": "127.0.0.1",
        "GRAPHSYNC_PG_PORT": str(port),
        "GRAPHSYNC_PG_USER": "graphsync",
        "GRAPHSYNC_PG_PASSWORD": password,
        "GRAPHSYNC_PG_DATABASE": "postgres",
        "GRAPHSYNC_PG_DSN": f"postgresql://graphsync:{password}@127.0.0.1:{port}/postgres",
    }
    if tls:
        client = tls.issue("postgres-client", "graphsync")
        files = f"sslmode=verify-full&sslrootcert={tls.root.cert}&sslcert={client.cert}&sslkey={client.key}"
        env["GRAPHSYNC_PG_DSN"] += f"?{files}"
    proc = process.start(spec)
    process.wait_ready(spec, proc, lambda: bool(probe(env)), timeout=60)
    return Service(name="postgres", pids=(proc.pid,), env=env, logs=(str(log),))


def restart(service: Service, run_dir: Path, *, down_seconds: float = 0.0) -> Service:
    """Stop the server the way an orderly restart or a failover does (fast shutdown: every session is cut
    off at once), stay down for `down_seconds`, then start it again on the same port and data."""
    [pid] = service.pids
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + 30
    while process.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    process.stop(pid)
    time.sleep(down_seconds)
    spec = _process(
        run_dir / "postgres" / "data",
        int(service.env["GRAPHSYNC_PG_PORT"]),
        Path(service.logs[0]),
        process.run_as_user(),
    )
    proc = process.start(spec)
    process.wait_ready(spec, proc, lambda: bool(probe(service.env)), timeout=60)
    return Service(name="postgres", pids=(proc.pid,), env=service.env, logs=service.logs)


# The server's TLS settings and the files, beside its data, they name.
_TLS_FILES = {"ssl_cert_file": "server.crt", "ssl_key_file": "server.key", "ssl_ca_file": "ca.crt"}


def _tls(authority: Authority, home: Path, data: Path, user: str | None) -> None:
    """The server's certificate, and a pg_hba.conf that takes nothing but TLS with a client certificate."""
    server = authority.issue("postgres-server", "127.0.0.1")
    folder = home / "tls"
    folder.mkdir(exist_ok=True)
    sources = {"ssl_cert_file": server.cert, "ssl_key_file": server.key, "ssl_ca_file": authority.root.cert}
    for setting, source in sources.items():
        copied = folder / _TLS_FILES[setting]
        copied.write_bytes(source.read_bytes())
        copied.chmod(0o600)
    process.chown_for(folder, user)
    (data / "pg_hba.conf").write_text(
        "local all all trust\n"
        "hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full\n"
        "hostnossl all all 0.0.0.0/0 reject\n"
    )


def _tls_options(data: Path) -> list[str]:
    """The server's TLS settings, when `start` gave it TLS (its files are beside the data): on every restart too."""
    folder = data.parent / "tls"
    if not folder.is_dir():
        return []
    return ["-c", "ssl=on", *(arg for name, file in _TLS_FILES.items() for arg in ("-c", f"{name}={folder / file}"))]


def _process(data: Path, port: int, log: Path, user: str | None) -> process.ProcessSpec:
    return process.ProcessSpec(
        name="postgres",
        argv=[
            str(bindir() / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-c",
            "listen_addresses=127.0.0.1",
            # TCP only: socket paths under deep temporary folders exceed the 107-byte limit.
            "-c",
            "unix_socket_directories=",
            "-c",
            "wal_level=logical",
            "-c",
            "max_wal_senders=16",
            "-c",
            "max_replication_slots=16",
            "-c",
            "max_connections=200",
            # The substrate's servers are killed, never the machine: the OS cache survives,
            # so skipping fsync keeps tests fast without risking the crash tests' data.
            "-c",
            "fsync=off",
            "-c",
            "full_page_writes=off",
            *_tls_options(data),
        ],
        log_path=log,
        user=user,
    )


def _initdb(data: Path, pwfile: Path, user: str | None, log: Path) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            [
                str(bindir() / "initdb"),
                "-D",
                str(data),
                "-U",
                "graphsync",
                "--pwfile",
                str(pwfile),
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            user=user,
            check=False,
        )
    if result.returncode != 0:
        raise process.SubstrateError(f"initdb failed ({result.returncode}); log {log}:\n{process.log_tail(log)}")


def probe(env: Mapping[str, str]) -> str:
    """Connect with the exported settings; report the version and WAL level."""
    try:
        with psycopg.connect(dsn(env), connect_timeout=3) as conn:
            row = conn.execute("SELECT current_setting('server_version'), current_setting('wal_level')").fetchone()
    except psycopg.Error as exc:
        raise process.SubstrateError(f"postgres at {env.get('GRAPHSYNC_PG_PORT')}: {exc}") from exc
    if row is None:
        raise process.SubstrateError("postgres returned no settings")
    return f"postgresql {row[0]} (wal_level={row[1]})"
