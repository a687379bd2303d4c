"""What the operator's end-to-end tests share: waiting, reading status, the objects a user creates."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from typing import Any

from graphsync.devenv.kube import kubectl
from graphsync.devenv.service import Service


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def eventually(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out after {timeout:.0f}s waiting for {what}"
        time.sleep(0.5)


def status(kube: Service, namespace: str, name: str, kind: str = "sp") -> dict[str, Any]:
    found = json.loads(ok(kubectl(kube.env, "get", kind, name, "-n", namespace, "-o", "json")))
    return dict(found.get("status") or {})


def condition(found: dict[str, Any], kind: str) -> dict[str, Any]:
    return next((c for c in found.get("conditions", []) if c["type"] == kind), {})


def wait_ready(kube: Service, namespace: str, name: str, kind: str = "syncpipeline") -> None:
    """`kubectl wait`, as a user would; the status in the message when it times out."""
    waited = kubectl(kube.env, "wait", "--for=condition=Ready", f"{kind}/{name}", "-n", namespace, "--timeout=60s")
    pods = kubectl(kube.env, "get", "deploy,rs,pods", "-n", namespace, "-o", "yaml").stdout
    assert waited.returncode == 0, json.dumps(status(kube, namespace, name, kind), indent=1) + pods


def secret(namespace: str, values: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "shop-db", "namespace": namespace},
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()},
    }
