"""A certificate authority of a test's own, and certificates it signs: for servers run with TLS turned on.

Made with the openssl command line (installed by hack/bootstrap.sh), valid for two days.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from graphsync.spec.endpoints import ServerTls
from graphsync_dev import process


@dataclass(frozen=True)
class Pair:
    """A certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    folder: Path
    root: Pair

    def issue(self, name: str, common_name: str) -> Pair:
        """A certificate for 127.0.0.1 and localhost (a server's, or a client's logging in as `common_name`)."""
        key, request, cert = (self.folder / f"{name}.{suffix}" for suffix in ("key", "csr", "crt"))
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", request, "-subj", f"/CN={common_name}")
        names = self.folder / f"{name}.ext"
        names.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        _openssl(
            "x509", "-req", "-in", request, "-CA", self.root.cert, "-CAkey", self.root.key, "-CAcreateserial",
            "-out", cert, "-days", "2", "-extfile", names,
        )  # fmt: skip
        key.chmod(0o600)
        return Pair(cert, key)


def authority(folder: Path) -> Authority:
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "ca.crt", folder / "ca.key"
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2",
        "-subj", "/CN=graphsync test CA",
    )  # fmt: skip
    return Authority(folder, Pair(cert, key))


def _openssl(*args: str | Path) -> None:
    done = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise process.SubstrateError(f"openssl {args[0]} failed: {done.stderr.strip()}")


def client_tls(env: Mapping[str, str], names: Mapping[str, str]) -> ServerTls | None:
    """The TLS section a client of a TLS server started here needs: the CA and client certificate files its
    service env names (`names`: ca, cert, key -> variable), so probes connect as the engine does; None without."""
    if names["ca"] not in env:
        return None
    return ServerTls.model_validate({part: {"path": env[variable]} for part, variable in names.items()})
