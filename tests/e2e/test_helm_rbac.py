"""The chart's RBAC as rendered: the operator's own access (the same rules cluster-wide or per namespace,
nothing it never does) and the roles for people (graphsync's kinds in the default edit/admin and view)."""

from __future__ import annotations

from typing import Any

import pytest

from graphsync_dev.commands import manifests
from tests.e2e.chart import CHART, Helm
from tests.e2e.helpers import ok

pytestmark = pytest.mark.e2e


def test_people_get_graphsync_kinds_through_the_default_edit_and_view_roles(helm: Helm) -> None:
    text = ok(helm("template", "graphsync", str(CHART), "-n", "ops"))
    roles = {d["metadata"]["name"]: d for d in manifests.documents(text) if d["kind"] == "ClusterRole"}
    edit, view = roles["graphsync-operator-ops-edit"], roles["graphsync-operator-ops-view"]
    aggregated = {k: v for k, v in edit["metadata"]["labels"].items() if k.startswith("rbac.authorization")}
    assert aggregated == {
        "rbac.authorization.k8s.io/aggregate-to-edit": "true",
        "rbac.authorization.k8s.io/aggregate-to-admin": "true",
    }
    assert view["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    kinds_ = ["syncpipelines", "reconciliationjobs", "conflictpolicies"]
    assert edit["rules"][0]["resources"] == view["rules"][0]["resources"] == kinds_
    assert "create" in edit["rules"][0]["verbs"]
    assert view["rules"][0]["verbs"] == ["get", "list", "watch"]
    # Status is the operator's to write: people read it.
    assert edit["rules"][1]["verbs"] == view["rules"][1]["verbs"] == ["get", "list", "watch"]
    off = ok(helm("template", "graphsync", str(CHART), "-n", "ops", "--set", "rbac.aggregateToDefaultRoles=false"))
    assert not any(d["metadata"]["name"].endswith("-edit") for d in manifests.documents(off))


def test_watching_every_namespace_grants_cluster_wide_what_a_listed_namespace_gets(helm: Helm) -> None:
    """The live test below runs the operator on listed namespaces; with none listed the same rules hold
    cluster-wide. Either way the operator reads namespaces (to find those being deleted, where a cleanup Job
    cannot run) and posts Events about them (what such a cleanup leaves behind is told there)."""

    def rendered(*values: str) -> dict[tuple[str, str], dict[str, Any]]:
        sets = [arg for value in values for arg in ("--set", value)]
        text = ok(helm("template", "graphsync", str(CHART), "-n", "ops", *sets))
        return {(d["kind"], d["metadata"]["name"]): d for d in manifests.documents(text)}

    everywhere, listed = rendered(), rendered("watchNamespaces={apps}")
    cluster_role = everywhere[("ClusterRole", "graphsync-operator-ops")]
    assert cluster_role["rules"] == listed[("Role", "graphsync-operator")]["rules"]
    assert listed[("Role", "graphsync-operator")]["metadata"]["namespace"] == "apps"
    assert listed[("RoleBinding", "graphsync-operator")]["subjects"] == [
        {"kind": "ServiceAccount", "name": "graphsync-operator", "namespace": "ops"}
    ]
    observer = "graphsync-operator-ops-observer"
    rules = {r["resources"][0]: r["verbs"] for r in listed[("ClusterRole", observer)]["rules"]}
    assert rules == {
        "customresourcedefinitions": ["list", "watch"],
        "namespaces": ["get", "list", "watch"],
        "events": ["create"],
    }
    assert everywhere[("ClusterRole", observer)]["rules"] == listed[("ClusterRole", observer)]["rules"]
    for role in (cluster_role, everywhere[("ClusterRole", observer)]):
        # Nothing the operator never does: no wildcards, no writing Secrets, no deleting what users own.
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"]
            if "syncpipelines" in rule["resources"]:
                # It never writes a spec (GitOps tools own it): patch is for kopf's annotations and finalizer.
                assert not {"create", "update", "delete"} & set(rule["verbs"]), rule
