"""Requests to the API server with a bearer token and the standard library: a worker's transport (see kube.py).

A worker needs one thing of the API, patching its Lease, and has a service account token: in a pod, the
projected token the kubelet rotates (read again for every request); run by the development kubelet, a
kubeconfig holding a token. Anything else (exec plugins, client certificates) is left to the `kubernetes`
client: `endpoint` answers None.
"""

from __future__ import annotations

import base64
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Seconds a request may take, connecting included: as the full client's read timeout.
TIMEOUT = 30.0


class Refused(Exception):
    """The request got no usable answer: `status` 0 when no answer came at all."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Transport(Protocol):
    def request(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: Any
    ) -> tuple[int, bytes]:
        """(HTTP status, body) of one request; raises Refused when no answer came."""
        ...


@dataclass(frozen=True)
class Endpoint:
    """Where the API server is and how to trust and authenticate to it."""

    server: str
    # The token itself, or the file it is read from on every request (a projected token rotates).
    token: str | None = None
    token_file: str | None = None
    ca_file: str | None = None
    ca_data: str | None = None
    verify: bool = True


def endpoint(environ: Mapping[str, str]) -> Endpoint | None:
    """This process's endpoint: its pod's service account, else the kubeconfig KUBECONFIG or ~/.kube/config
    names when it authenticates with a token; None otherwise."""
    if environ.get("KUBERNETES_SERVICE_HOST"):
        return in_cluster(environ)
    path = Path(environ.get("KUBECONFIG", "").split(os.pathsep)[0] or Path.home() / ".kube" / "config")
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None
    return from_kubeconfig(document if isinstance(document, dict) else {})


def in_cluster(environ: Mapping[str, str]) -> Endpoint:
    host, port = environ["KUBERNETES_SERVICE_HOST"], environ.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    return Endpoint(
        server=f"https://{host}:{port}",
        token_file=str(SERVICE_ACCOUNT / "token"),
        ca_file=str(SERVICE_ACCOUNT / "ca.crt"),
    )


def from_kubeconfig(config: Mapping[str, Any]) -> Endpoint | None:
    """The current context's endpoint when its user is a bare token (pure); None for any other kind of user."""
    context = _named(config.get("contexts"), config.get("current-context"), "context")
    cluster = _named(config.get("clusters"), context.get("cluster"), "cluster")
    user = _named(config.get("users"), context.get("user"), "user")
    token, token_file = user.get("token"), user.get("tokenFile")
    if not cluster.get("server") or set(user) - {"token", "tokenFile"} or not (token or token_file):
        return None
    return Endpoint(
        server=str(cluster["server"]),
        token=str(token) if token else None,
        token_file=str(token_file) if token_file and not token else None,
        ca_file=cluster.get("certificate-authority"),
        ca_data=cluster.get("certificate-authority-data"),
        verify=not cluster.get("insecure-skip-tls-verify", False),
    )


def _named(entries: Any, name: Any, field: str) -> dict[str, Any]:
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name and isinstance(entry.get(field), dict):
            return dict(entry[field])
    return {}


class TokenTransport:
    def __init__(self, endpoint: Endpoint) -> None:
        self._endpoint = endpoint
        self._tls = ssl.create_default_context(
            cafile=endpoint.ca_file,
            cadata=base64.b64decode(endpoint.ca_data).decode() if endpoint.ca_data else None,
        )
        if not endpoint.verify:
            self._tls.check_hostname = False
            self._tls.verify_mode = ssl.CERT_NONE

    def request(
        self, method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str], body: Any
    ) -> tuple[int, bytes]:
        url = self._endpoint.server.rstrip("/") + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        data = json.dumps(body).encode() if body is not None else None
        # The URL is the API server's from the worker's own configuration, never a user's input.
        request = urllib.request.Request(url, data=data, method=method, headers={**headers, **self._auth()})  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT, context=self._tls) as response:  # noqa: S310
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as answer:
            return int(answer.code), bytes(answer.read())
        except (urllib.error.URLError, OSError) as exc:
            raise Refused(0, f"{self._endpoint.server}: {getattr(exc, 'reason', exc)}") from None

    def _auth(self) -> dict[str, str]:
        token = self._endpoint.token
        if token is None and self._endpoint.token_file is not None:
            try:
                token = Path(self._endpoint.token_file).read_text().strip()
            except OSError as exc:
                raise Refused(0, f"cannot read the service account token: {exc}") from None
        return {"Authorization": f"Bearer {token}"} if token else {}
