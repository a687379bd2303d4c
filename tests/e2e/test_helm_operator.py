"""The chart's operator installed with helm and run from its own pod spec by the kubelet stand-in, with a token
of the chart's ServiceAccount: reconciling a sample with nothing but the chart's RBAC proves that RBAC is enough;
an upgrade rolls the operator; the chart's cluster role watches every namespace.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphsync_dev import kubelet, process
from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from tests.conftest import eventually
from tests.e2e.chart import CHART, NO_CRDS, OPERATOR_PODS, REFUSALS, SAMPLES, Helm
from tests.e2e.helpers import VENV_BIN, ok

pytestmark = pytest.mark.e2e


@pytest.fixture
def second_namespace(kube: Service) -> Iterator[str]:
    name = f"helm-{uuid.uuid4().hex[:10]}"
    ok(kubectl(kube.env, "create", "namespace", name))
    yield name
    ok(kubectl(kube.env, "delete", "namespace", name, "--wait=false"))


def run_operator(
    kube: Service, namespace: str, pods: Path, before: str | None = None
) -> tuple[str, kubelet.RunningPod]:
    """The kubelet's part for the chart's operator pod (a new one, when `before` names the old)."""

    def fresh() -> str | None:
        names = [n for n in kubelet.pods(kube.env, namespace, OPERATOR_PODS) if n != before]
        return names[0] if names else None

    pod = str(eventually(fresh, "the operator's pod"))
    return pod, kubelet.run_pod(kube.env, namespace, pod, pods, python_bin=VENV_BIN)


def apply_sample(kube: Service, namespace: str, *files: str) -> None:
    for name in files:
        ok(kubectl(kube.env, "apply", "-n", namespace, "-f", str(SAMPLES / name)))


def get(kube: Service, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    found = kubectl(kube.env, "get", kind, name, "-n", namespace, "-o", "json")
    return json.loads(found.stdout) if found.returncode == 0 else None


def reconciled(kube: Service, namespace: str, pipeline: str) -> dict[str, Any]:
    """Wait until the operator made the pipeline's children and wrote its status for this generation."""
    for kind, name in (
        ("configmap", f"{pipeline}-pipeline"),
        ("lease", f"{pipeline}-sync-progress"),
        ("role", f"{pipeline}-sync"),
        ("deployment", f"{pipeline}-worker"),
    ):
        appears(kube, namespace, kind, name)

    def written() -> dict[str, Any] | None:
        body = get(kube, namespace, "syncpipeline", pipeline) or {}
        status = body.get("status") or {}
        current = status.get("observedGeneration") == body["metadata"]["generation"]
        return status if current and status.get("conditions") else None

    status: dict[str, Any] = eventually(written, f"the status of {namespace}/{pipeline}")
    return status


def appears(kube: Service, namespace: str, kind: str, name: str) -> None:
    eventually(lambda: get(kube, namespace, kind, name), f"{kind} {name} in {namespace}")


def fetch(port: int, path: str) -> tuple[int, str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        return int(response.status), response.read().decode()


def heartbeat_of(kube: Service, namespace: str, pipeline: str) -> str | None:
    deployment = get(kube, namespace, "deployment", f"{pipeline}-worker") or {}
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return next((e.get("value") for e in env if e["name"] == "GRAPHSYNC_HEARTBEAT_SECONDS"), None)


def test_helm_install_runs_an_operator_that_reconciles_and_upgrade_rolls_it(
    kube: Service, helm: Helm, graphsync_crds: None, namespace: str, second_namespace: str, tmp_path: Path
) -> None:
    pods = tmp_path / "pods"
    chart = ["graphsync", str(CHART), "-n", namespace]
    health = process.free_port()  # the chart's liveness URL is the pod's own port: a free one here
    # The session's CRDs were applied from crds/ (the graphsync_crds fixture): the release leaves them alone.
    installed = helm(
        "install", *chart, *NO_CRDS, "--set", f"watchNamespaces={{{namespace}}}", "--set", f"health.port={health}"
    )
    assert installed.returncode == 0, installed.stderr
    first, running = run_operator(kube, namespace, pods)
    try:
        apply_sample(kube, namespace, "secret.yaml", "syncpipeline-postgres-neo4j.yaml")
        status = reconciled(kube, namespace, "shop")
        assert {c["type"] for c in status["conditions"]} >= {"Ready", "Reconciling", "Stalled"}
        # The workers' Role names their Lease only: the operator could grant it because it holds it.
        role = get(kube, namespace, "role", "shop-sync") or {}
        assert role["rules"] == [
            {
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "resourceNames": ["shop-sync-progress"],
                "verbs": ["get", "patch"],
            }
        ]
        assert heartbeat_of(kube, namespace, "shop") == "10"
        # The probe and the scrape the chart sets up answer; every API request the operator made was allowed.
        assert fetch(health, "/healthz")[0] == 200
        code, metrics = fetch(running.ports[8080], "/metrics")
        assert code == 200
        answered = re.findall(r'graphsync_operator_api_requests_total\{[^}]*code="(\d+|<error>)"', metrics)
        assert answered, metrics
        # 404: a child not made yet; 409: a status computed from a view that had moved on (written next round).
        assert {c for c in answered if not c.startswith("2")} <= {"404", "409"}, metrics

        upgraded = helm(
            "upgrade",
            *chart,
            *NO_CRDS,
            "--set",
            f"watchNamespaces={{{namespace},{second_namespace}}}",
            "--set",
            f"health.port={process.free_port()}",
            "--set",
            "workers.heartbeatSeconds=2",
        )
        assert upgraded.returncode == 0, upgraded.stderr
        # Recreate: the old pod goes before the new one is made.
        eventually(lambda: first not in kubelet.pods(kube.env, namespace, OPERATOR_PODS), "the old operator pod gone")
        assert running.stop() == 0
        second, running = run_operator(kube, namespace, pods, before=first)
        # The new operator renders the existing pipeline again with the new setting, and serves the new namespace.
        eventually(lambda: heartbeat_of(kube, namespace, "shop") == "2", "the workers rendered with heartbeat 2")
        apply_sample(kube, second_namespace, "secret.yaml", "syncpipeline-postgres-neo4j.yaml")
        reconciled(kube, second_namespace, "shop")
    finally:
        running.stop()
        ok(helm("uninstall", "graphsync", "-n", namespace))
    for pod in (first, second):
        log = (pods / f"{pod}.log").read_text()
        assert log.strip(), f"the operator pod {pod} logged nothing"
        for refusal in REFUSALS:
            assert refusal not in log, log[-4000:]


def test_watching_every_namespace_with_the_charts_cluster_role(
    kube: Service, helm: Helm, graphsync_crds: None, namespace: str, second_namespace: str, tmp_path: Path
) -> None:
    pods = tmp_path / "pods"
    installed = helm(
        "install", "graphsync", str(CHART), "-n", namespace, *NO_CRDS, "--set", f"health.port={process.free_port()}"
    )
    assert installed.returncode == 0, installed.stderr
    pod, running = run_operator(kube, namespace, pods)
    try:
        apply_sample(kube, second_namespace, "secret.yaml", "syncpipeline-postgres-neo4j.yaml")
        reconciled(kube, second_namespace, "shop")
    finally:
        running.stop()
        ok(helm("uninstall", "graphsync", "-n", namespace))
    # Only refusals by RBAC count here: watching every namespace, the operator also meets what earlier
    # tests left in namespaces being deleted, where the API server refuses new objects to anyone.
    log = (pods / f"{pod}.log").read_text()
    assert "Not enough permissions" not in log, log[-4000:]
    assert 'is forbidden: User "system:serviceaccount:' not in log, log[-4000:]
