"""Git servers that ask who you are, on loopback: git's own smart-HTTP server (`git http-backend`) behind a
Basic-auth check, and OpenSSH's sshd taking one key. What a private repository on a Git host looks like to the
worker."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from graphsync_dev import process

BACKEND = "/usr/lib/git-core/git-http-backend"
SSHD = "/usr/sbin/sshd"


@contextmanager
def https_git(root: Path, username: str, token: str) -> Iterator[str]:
    """Serves the repositories under `root` to a client that logs in as `username` with `token`; yields the
    base URL. (Plain HTTP on loopback: what is tested is how the token reaches git, not TLS.)"""
    expected = "Basic " + base64.b64encode(f"{username}:{token}".encode()).decode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _serve(self) -> None:
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            path, _, query = self.path.partition("?")
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            env = {
                **os.environ,
                "GIT_PROJECT_ROOT": str(root),
                "GIT_HTTP_EXPORT_ALL": "1",
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_USER": username,
                "GIT_HTTP_MAX_REQUEST_BUFFER": "100M",
            }
            done = subprocess.run([BACKEND], input=body, capture_output=True, env=env, check=False)
            head, _, content = done.stdout.partition(b"\r\n\r\n")
            headers = [line.split(":", 1) for line in head.decode().split("\r\n") if ":" in line]
            status = next((int(v.strip().split()[0]) for k, v in headers if k.lower() == "status"), 200)
            self.send_response(status)
            for key, value in headers:
                if key.lower() != "status":
                    self.send_header(key, value.strip())
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def ssh_git(folder: Path, client_key: Path) -> Iterator[tuple[int, Path]]:
    """An sshd on loopback that lets in the holder of `client_key` (and no one else) as the current user, to run
    git's commands; yields its port and a known_hosts file naming its host key."""
    folder.mkdir(parents=True, exist_ok=True)
    host_key = folder / "host_key"
    _keygen(host_key)
    authorized = folder / "authorized_keys"
    authorized.write_text(Path(f"{client_key}.pub").read_text())
    port = process.free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\n"
        f"PidFile {folder / 'sshd.pid'}\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\n"
        "PermitRootLogin prohibit-password\n"
        "UsePAM no\n"
        # The test's folders are not root's alone, as sshd would otherwise insist.
        "StrictModes no\n"
    )
    # sshd refuses to start without its privilege-separation directory.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = folder / "sshd.log"
    spec = process.ProcessSpec(name="sshd", argv=[SSHD, "-D", "-e", "-f", str(config)], log_path=log)
    proc = process.start(spec)
    try:
        process.wait_ready(spec, proc, lambda: process.port_open(port), timeout=30)
        known_hosts = folder / "known_hosts"
        public = Path(f"{host_key}.pub").read_text().split()
        known_hosts.write_text(f"[127.0.0.1]:{port} {public[0]} {public[1]}\n")
        yield port, known_hosts
    finally:
        process.stop(proc.pid)


def keypair(path: Path) -> Path:
    """An unencrypted ed25519 key at `path` (its public half beside it, `.pub`)."""
    _keygen(path)
    return path


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
