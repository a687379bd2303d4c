"""Starting, probing and stopping server processes.

One mechanism for every server: a process in its own session (so `dev up` can
exit and leave it running), its output in a log file, a readiness probe polled
until it answers, and a `SubstrateError` carrying the log tail when it doesn't.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Servers outlive the function that started them; holding their Popen objects here
# lets `stop` reap them, and keeps Python from warning that a child is still running.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class SubstrateError(RuntimeError):
    """A server could not be built, started or reached."""


@dataclass(frozen=True)
class ProcessSpec:
    """How to run one server process."""

    name: str
    argv: Sequence[str]
    log_path: Path
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    # PostgreSQL refuses to run as root; when we are root we drop to this user.
    user: str | None = None


def free_port() -> int:
    """A loopback port that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def run_as_user() -> str | None:
    """The unprivileged user to run servers as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    user = os.environ.get("GRAPHSYNC_SERVER_USER", "postgres")
    try:
        pwd.getpwnam(user)
    except KeyError as exc:
        raise SubstrateError(
            f"running as root and the unprivileged user {user!r} does not exist; "
            "run hack/bootstrap.sh or set GRAPHSYNC_SERVER_USER"
        ) from exc
    return user


def chown_for(path: Path, user: str | None) -> None:
    """Give `path` (recursively) to `user` so a dropped-privilege server can write it."""
    if user is None:
        return
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def start(spec: ProcessSpec) -> subprocess.Popen[bytes]:
    spec.log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env}
    with spec.log_path.open("ab") as log:
        try:
            child = subprocess.Popen(
                list(spec.argv),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=spec.cwd,
                user=spec.user,
                start_new_session=True,
            )
        except OSError as exc:
            raise SubstrateError(f"{spec.name}: cannot execute {spec.argv[0]}: {exc}") from exc
    _CHILDREN[child.pid] = child
    return child


def wait_ready(
    spec: ProcessSpec,
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    timeout: float,
) -> None:
    """Poll `ready` until it returns True; fail with the log tail otherwise.

    `ready` may raise: any exception counts as "not yet".
    """
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SubstrateError(
                f"{spec.name} exited with code {process.returncode} before it was ready; "
                f"log {spec.log_path}:\n{log_tail(spec.log_path)}"
            )
        try:
            if ready():
                return
        except Exception as exc:  # noqa: BLE001 - any failure of a probe means "not ready yet"
            last_error = f"{type(exc).__name__}: {exc}"
        time.sleep(0.2)
    stop(process.pid)
    raise SubstrateError(
        f"{spec.name} was not ready after {timeout:.0f}s (last probe error: {last_error or 'none'}); "
        f"log {spec.log_path}:\n{log_tail(spec.log_path)}"
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stop(pid: int, *, timeout: float = 15.0) -> None:
    """SIGTERM the process group, then SIGKILL what is left after `timeout`."""
    _signal_group(pid, signal.SIGTERM)
    if _gone(pid, timeout):
        return
    _signal_group(pid, signal.SIGKILL)
    # Gone for good before returning: a restart on the same port or data directory must not meet it.
    _gone(pid, timeout)


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(pid)
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    # Our own children must be waited for or they linger as zombies.
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is not None:
            del _CHILDREN[pid]
        return
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_children() -> None:
    """Stop every server this process started that still runs: the test session's safety net."""
    for pid, child in list(_CHILDREN.items()):
        if child.poll() is None:
            stop(pid)
