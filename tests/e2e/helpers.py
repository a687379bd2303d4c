"""What the operator's end-to-end tests share: waiting, reading status, the objects a user creates."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import psycopg

from graphsync_dev import kubelet, sample
from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import eventually
from tests.resources import resource, shop_spec

VENV_BIN = Path(__file__).parents[2] / ".venv" / "bin"


# The selector of a pipeline's sync worker pods.
WORKERS = "app.kubernetes.io/instance={},app.kubernetes.io/component=sync"


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


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


@dataclass
class ShopCluster:
    """The shop sample in PostgreSQL, the databases, and the operator's namespace: what a user of the operator has."""

    kube: Service
    namespace: str
    pg: psycopg.Connection[Any]
    postgres: Service
    redis: Service
    neo4j_service: Service
    driver: neo4j.Driver
    pods: Path
    schema: str = ""

    def create(self, customers: int) -> None:
        self.schema = str(self.pg.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
        shop.create(self.pg, self.schema)
        sample.seed(self.pg, self.schema, customers=customers)

    def apply(self, manifest: dict[str, Any]) -> None:
        ok(kubectl(self.kube.env, "apply", "-f", "-", input=json.dumps(manifest)))

    def secret(self) -> None:
        passwords = {
            "pg-password": self.postgres.env["GRAPHSYNC_PG_PASSWORD"],
            "neo4j-password": self.neo4j_service.env.get("GRAPHSYNC_NEO4J_PASSWORD", ""),
        }
        self.apply(secret(self.namespace, passwords))

    def spec(self, **changes: Any) -> dict[str, Any]:
        """The shop pipeline's spec against the real servers; a change set to None removes the field."""
        pg = self.postgres.env
        spec = shop_spec(
            pg_url=f"postgresql://{pg['GRAPHSYNC_PG_USER']}@127.0.0.1:{pg['GRAPHSYNC_PG_PORT']}/postgres",
            redis_url=self.redis.env["GRAPHSYNC_REDIS_URL"],
            neo4j_uri=self.neo4j_service.env["GRAPHSYNC_NEO4J_URI"],
            schema=self.schema or "shop",
            neo4j_password=bool(self.neo4j_service.env.get("GRAPHSYNC_NEO4J_PASSWORD")),
        )
        return {key: value for key, value in {**spec, **changes}.items() if value is not None}

    def pipeline(self, name: str, spec: dict[str, Any]) -> None:
        self.apply(resource("SyncPipeline", name, self.namespace, spec))

    def pod(self, selector: str) -> str:
        """A pod of the selector in any phase (kwok marks a Job's pods Succeeded at once)."""
        found = eventually(
            lambda: ok(kubectl(self.kube.env, "get", "pods", "-n", self.namespace, "-l", selector, "-o", "name")),
            f"a pod for {selector}",
        )
        return str(found.split()[0].removeprefix("pod/"))

    def run(self, pod: str) -> kubelet.RunningPod:
        """Do the kubelet's part: run the pod's container here, from the pod's own spec."""
        return kubelet.run_pod(self.kube.env, self.namespace, pod, self.pods, python_bin=VENV_BIN)

    def run_worker(self, pipeline: str) -> tuple[str, kubelet.RunningPod]:
        pod = kubelet.wait_pods(self.kube.env, self.namespace, WORKERS.format(pipeline), timeout=90)[0]
        return pod, self.run(pod)

    def workers(self, pipeline: str) -> list[str]:
        """The pipeline's sync worker pods, in any phase."""
        return kubelet.pods(self.kube.env, self.namespace, WORKERS.format(pipeline))

    def roll(
        self, pipeline: str, old_pod: str, old_worker: kubelet.RunningPod | None = None
    ) -> tuple[str, kubelet.RunningPod]:
        """The workers rolled (or came back after a pause): wait for the pod that is not `old_pod`, stop the
        old container (its Pod is gone: the kubelet would stop it), run the new one."""
        pod = eventually(lambda: [p for p in self.workers(pipeline) if p != old_pod], f"a new worker of {pipeline}")[0]
        if old_worker is not None:
            old_worker.stop()
        return pod, self.run(pod)

    def in_sync(self, what: str, timeout: float = 120) -> shop.Graph:
        """Wait until Neo4j holds what PostgreSQL holds now."""
        expected = shop.expected(self.pg, self.schema)
        eventually(lambda: shop.actual(self.driver) == expected, what, timeout=timeout)
        return expected

    def status(self, name: str, kind: str = "sp") -> dict[str, Any]:
        return status(self.kube, self.namespace, name, kind)
