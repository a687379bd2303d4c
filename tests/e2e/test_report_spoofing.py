"""A pipeline's workers report for their own pipeline only: the API server keeps them out of other Leases, and the
operator believes what is in a pipeline's own Lease only, whatever labels a worker puts on its Lease."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from graphsync_dev.kube import kubectl
from graphsync_operator.build import names
from graphsync_operator.reports import WorkerReport, WorkerState, annotation_key
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster

pytestmark = pytest.mark.e2e


def patch_as(c: ShopCluster, pipeline: str, lease_of: str, patch: dict[str, object]) -> tuple[int, str]:
    """Patch `lease_of`'s sync Lease as `pipeline`'s workers can (their service account)."""
    account = f"system:serviceaccount:{c.namespace}:{names.account(pipeline, names.SYNC)}"
    lease = names.lease(lease_of, names.SYNC)
    done = kubectl(
        c.kube.env, "patch", "lease", lease, "-n", c.namespace, "--type=merge", "-p", json.dumps(patch), "--as", account
    )
    return done.returncode, done.stderr


def annotation(report: WorkerReport) -> dict[str, str]:
    return {annotation_key(report.pod): report.model_dump_json(by_alias=True)}


def test_a_pipelines_workers_cannot_report_for_another_pipeline(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    c.secret()
    for pipeline in ("honest", "spoofer"):
        c.pipeline(pipeline, c.spec())

        def has_lease(p: str = pipeline) -> bool:
            return kubectl(c.kube.env, "get", "lease", names.lease(p, names.SYNC), "-n", c.namespace).returncode == 0

        eventually(has_lease, f"the Lease of {pipeline}")
    now = datetime.now(UTC)
    forged = WorkerReport(
        pod=f"{names.deployment('honest')}-5d9c7-abcde",
        started_at=now,
        heartbeat=now,
        state=WorkerState.FAILED,
        synced=999_999,
        error="forged by another pipeline's worker",
    )

    # The other pipeline's Lease is out of reach.
    code, error = patch_as(c, "spoofer", "honest", {"metadata": {"annotations": annotation(forged)}})
    assert code != 0
    assert "forbidden" in error.lower(), error

    # Its own Lease is not: relabelled as the other pipeline's, with a report in the other's pod's name.
    relabelled = {names.PIPELINE_LABEL: "honest", "app.kubernetes.io/instance": "honest"}
    code, error = patch_as(
        c, "spoofer", "spoofer", {"metadata": {"labels": relabelled, "annotations": annotation(forged)}}
    )
    assert code == 0, error
    # Then a true report of the honest pipeline's own worker: once the status shows it, the refresher has seen both.
    true = WorkerReport(
        pod=f"{names.deployment('honest')}-5d9c7-fghij",
        started_at=now,
        heartbeat=now,
        state=WorkerState.RUNNING,
        synced=7,
    )
    assert patch_as(c, "honest", "honest", {"metadata": {"annotations": annotation(true)}})[0] == 0
    status = eventually(lambda: (s := c.status("honest")) and s.get("itemsSynced") == 7 and s, "the true report")
    assert "forged" not in json.dumps(status)
    # Nor does the spoofer's own status take a report of a pod that is not its own.
    assert "forged" not in json.dumps(c.status("spoofer"))
