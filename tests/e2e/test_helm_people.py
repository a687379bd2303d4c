"""People on the real control plane: a user bound to the cluster's default `edit` role in one namespace creates a
SyncPipeline there, and one bound to `view` reads it, only because the chart's ClusterRoles are aggregated into
those roles (kube-controller-manager's aggregation controller adds their rules). Users are impersonated
(`kubectl --as`), as an API server's authenticator would name them."""

from __future__ import annotations

import json

import pytest

from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from tests.conftest import eventually
from tests.e2e.chart import CHART, NO_CRDS, SAMPLES, Helm
from tests.e2e.helpers import ok

pytestmark = pytest.mark.e2e

EDITOR, VIEWER = "alice@example.com", "victor@example.com"


def can(kube: Service, user: str, namespace: str, verb: str, resource: str, subresource: str = "") -> bool:
    """`kubectl auth can-i` as the user (exit 0: yes, 1: no)."""
    sub = ["--subresource", subresource] if subresource else []
    done = kubectl(kube.env, "auth", "can-i", verb, resource, *sub, "-n", namespace, "--as", user)
    assert done.returncode in {0, 1}, done.stderr
    return done.returncode == 0


@pytest.fixture
def people(kube: Service, namespace: str) -> None:
    """EDITOR may edit the namespace and VIEWER view it: the cluster's own roles, bound as an admin would."""
    for user, role in ((EDITOR, "edit"), (VIEWER, "view")):
        name = f"{role}-{user.split('@')[0]}"
        ok(kubectl(kube.env, "create", "rolebinding", name, f"--clusterrole={role}", f"--user={user}", "-n", namespace))


def test_a_namespace_editor_creates_a_pipeline_and_a_viewer_reads_it(
    kube: Service, helm: Helm, graphsync_crds: None, namespace: str, people: None
) -> None:
    sp = "syncpipelines.graphsync.io"
    # Before the chart: edit and view know nothing of graphsync's kinds.
    assert not can(kube, EDITOR, namespace, "create", sp)
    assert not can(kube, VIEWER, namespace, "list", sp)
    ok(helm("install", "graphsync", str(CHART), "-n", namespace, *NO_CRDS, "--set", "replicas=0"))
    try:
        eventually(lambda: can(kube, EDITOR, namespace, "create", sp), "edit aggregating the chart's role")
        eventually(lambda: can(kube, VIEWER, namespace, "list", sp), "view aggregating the chart's role")

        secret = (SAMPLES / "secret.yaml").read_text()
        ok(kubectl(kube.env, "apply", "-n", namespace, "--as", EDITOR, "-f", "-", input=secret))
        sample = str(SAMPLES / "syncpipeline-postgres-neo4j.yaml")
        created = kubectl(kube.env, "apply", "-n", namespace, "--as", EDITOR, "-f", sample)
        assert created.returncode == 0, created.stderr
        assert "syncpipeline.graphsync.io/shop created" in created.stdout
        for kind in ("reconciliationjobs", "conflictpolicies"):
            assert can(kube, EDITOR, namespace, "delete", f"{kind}.graphsync.io")
        # Status is the operator's to write: people read it.
        assert not can(kube, EDITOR, namespace, "patch", sp, "status")
        assert can(kube, EDITOR, namespace, "get", sp, "status")
        assert can(kube, EDITOR, namespace, "patch", sp)

        listed = json.loads(ok(kubectl(kube.env, "get", "sp", "-n", namespace, "--as", VIEWER, "-o", "json")))
        assert [item["metadata"]["name"] for item in listed["items"]] == ["shop"]
        refused = kubectl(kube.env, "delete", "sp", "shop", "-n", namespace, "--as", VIEWER)
        assert refused.returncode != 0
        assert "forbidden" in refused.stderr
        # Only in their namespace: the binding is a RoleBinding.
        assert not can(kube, EDITOR, "default", "create", sp)
    finally:
        ok(helm("uninstall", "graphsync", "-n", namespace))
    # The chart's roles gone, so are the rights they lent.
    eventually(lambda: not can(kube, EDITOR, namespace, "create", sp), "edit without the chart's role")
