"""The real Kubernetes control plane, started once per session, and a fresh namespace per test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest

from graphsync_dev import gotools, process
from graphsync_dev import kube as cluster
from graphsync_dev.kube import kubectl
from graphsync_dev.process import ProcessSpec
from graphsync_dev.service import Service
from tests.e2e.chart import Helm
from tests.e2e.helpers import VENV_BIN, ShopCluster


def pytest_collection_finish(session: pytest.Session) -> None:
    # A cold build of the control plane takes longer than a test's timeout allows, so it
    # happens before any test's clock starts (and only when e2e tests were selected).
    if session.config.option.collectonly or not any(item.get_closest_marker("e2e") for item in session.items):
        return
    try:
        gotools.ensure_all()
    except process.SubstrateError as exc:
        pytest.exit(f"cannot build the Kubernetes substrate: {exc}", returncode=3)


@pytest.fixture
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    # kubectl runs `kubectl-graphsync` from PATH, as it would from a user's.
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")


@pytest.fixture(scope="session")
def kube(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The control plane; `kube.env` holds KUBECONFIG and the kubectl and helm paths."""
    service = cluster.start(tmp_path_factory.mktemp("kube"))
    yield service
    for pid in reversed(service.pids):
        process.stop(pid)


@pytest.fixture
def namespace(kube: Service) -> Iterator[str]:
    name = f"smoke-{uuid.uuid4().hex[:10]}"
    created = kubectl(kube.env, "create", "namespace", name)
    assert created.returncode == 0, created.stderr
    yield name
    # Not waiting: the namespace controller finishes the cleanup while the next test runs.
    deleted = kubectl(kube.env, "delete", "namespace", name, "--wait=false", "--ignore-not-found")
    assert deleted.returncode == 0, deleted.stderr


CRDS = Path(__file__).parents[2] / "crds"


@pytest.fixture(scope="session")
def graphsync_crds(kube: Service) -> None:
    """The project's CRDs, applied from crds/ as a user would, and established."""
    applied = kubectl(kube.env, "apply", "-f", str(CRDS))
    assert applied.returncode == 0, applied.stderr
    for name in ("syncpipelines", "reconciliationjobs", "conflictpolicies"):
        deadline = time.monotonic() + 60
        # Right after creation kubectl may find no conditions at all and give up instead of waiting.
        while True:
            waited = kubectl(
                kube.env, "wait", "--for=condition=Established", f"crd/{name}.graphsync.io", "--timeout=60s"
            )
            if waited.returncode == 0:
                break
            assert time.monotonic() < deadline, waited.stderr
            time.sleep(0.5)


@pytest.fixture(scope="module")
def helm(kube: Service, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    home = tmp_path_factory.mktemp("helm")
    # Helm's caches and settings in the test's folder: a test must not touch the user's ~/.config/helm.
    folders = {f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")}
    return Helm(kube.env["GRAPHSYNC_HELM"], {**os.environ, "KUBECONFIG": kube.env["KUBECONFIG"], **folders})


@pytest.fixture
def operator_metrics_port() -> int:
    """Where the `operator` fixture's process serves /metrics."""
    return process.free_port()


@pytest.fixture
def operator(
    kube: Service, graphsync_crds: None, namespace: str, tmp_path: Path, operator_metrics_port: int
) -> Iterator[Path]:
    log = tmp_path / "operator.log"
    spec = ProcessSpec(
        name="graphsync-operator",
        argv=[
            str(VENV_BIN / "graphsync-operator"),
            "run",
            "-n",
            namespace,
            "--liveness",
            f"http://127.0.0.1:{process.free_port()}/healthz",
            "--metrics-port",
            str(operator_metrics_port),
        ],
        log_path=log,
        env={
            "KUBECONFIG": kube.env["KUBECONFIG"],
            "GRAPHSYNC_HEARTBEAT_SECONDS": "1",
            "GRAPHSYNC_STATUS_INTERVAL": "1",
        },
    )
    proc = process.start(spec)
    yield log
    process.stop(proc.pid)
    # Whatever a test asserted, the operator must not have crashed in a handler on the way.
    assert "Traceback" not in log.read_text(), log.read_text()[-4000:]


@pytest.fixture
def cluster_shop(
    kube: Service,
    namespace: str,
    operator: Path,
    pg_conn: psycopg.Connection[Any],
    postgres_service: Service,
    redis_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
) -> ShopCluster:
    """The operator running on the namespace, the databases, and the shop's tables (empty until `create`)."""
    return ShopCluster(
        kube, namespace, pg_conn, postgres_service, redis_service, neo4j_service, neo4j_driver, tmp_path / "pods"
    )
