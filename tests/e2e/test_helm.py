"""The Helm chart, the kubectl install and the samples on the real control plane.

The chart's operator Deployment is installed with helm and its pod run from its own spec by the
kubelet stand-in, with a token of the chart's ServiceAccount: the operator reconciling a sample
with nothing but the chart's RBAC proves that RBAC is enough.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync_dev import monitoring
from graphsync_dev.commands import manifests
from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from tests.conftest import eventually
from tests.e2e.chart import CHART, MANIFESTS, NO_CRDS, SAMPLES, Helm
from tests.e2e.helpers import ok

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def monitoring_crds(kube: Service) -> None:
    """ServiceMonitor, PodMonitor and PrometheusRule, from the prometheus-operator release pinned in hack/monitoring."""
    for path in monitoring.crd_files():
        ok(kubectl(kube.env, "apply", "--server-side", "-f", str(path)))
    for name in monitoring.KINDS:
        established(kube, f"crd/{name}.monitoring.coreos.com")


def established(kube: Service, crd: str) -> None:
    # Right after creation kubectl may find no conditions at all and give up instead of waiting.
    eventually(lambda: kubectl(kube.env, "wait", "--for=condition=Established", crd).returncode == 0, crd)


def kinds(listing: str) -> list[tuple[str, str]]:
    """(kind, name) of every object in a `kubectl ... -o json` answer (one object or a List)."""
    found = json.loads(listing)
    items = found["items"] if found.get("kind") == "List" else [found]
    return sorted((item["kind"], item["metadata"]["name"]) for item in items)


def test_helm_lint_passes_and_bad_values_fail_naming_them(helm: Helm, namespace: str) -> None:
    linted = helm("lint", "--strict", str(CHART))
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert "1 chart(s) linted, 0 chart(s) failed" in linted.stdout

    bad = helm("lint", str(CHART), "--set", "replicas=2", "--set", "watchNamespaces={Not_A_Namespace}")
    assert bad.returncode != 0
    assert "at '/replicas': maximum: got 2, want 1" in bad.stdout + bad.stderr
    assert "at '/watchNamespaces/0': 'Not_A_Namespace' does not match pattern" in bad.stdout

    refused = helm("install", "graphsync", str(CHART), "-n", namespace, "--set", "replicas=-1")
    assert refused.returncode != 0
    assert "at '/replicas': minimum: got -1, want 0" in refused.stderr
    unknown = helm("install", "graphsync", str(CHART), "-n", namespace, "--set", "replica=1")
    assert unknown.returncode != 0
    assert "additional properties 'replica' not allowed" in unknown.stderr
    tagged = helm("install", "graphsync", str(CHART), "-n", namespace, "--set", "image.repository=ghcr.io/x/y:1.0")
    assert "at '/image/repository': 'ghcr.io/x/y:1.0' does not match pattern" in tagged.stderr
    # A ServiceMonitor of metrics that are turned off would scrape nothing.
    blind = helm(
        "install",
        "graphsync",
        str(CHART),
        "-n",
        namespace,
        "--set",
        "metrics.port=0",
        "--set",
        "metrics.serviceMonitor.enabled=true",
    )
    assert "at '/metrics/serviceMonitor/enabled': value must be false" in blind.stderr
    assert ok(helm("list", "-n", namespace, "-q")).strip() == ""  # nothing was installed


def test_the_kubectl_install_files_are_the_charts_rendering(helm: Helm) -> None:
    wanted = manifests.expected(Path(helm.binary), CHART)
    assert manifests.stale(MANIFESTS, wanted) == [], "run: graphsync-dev manifests --write manifests/"


OPTIONAL = [
    "metrics.serviceMonitor.enabled=true",
    "metrics.podMonitor.enabled=true",
    "networkPolicy.enabled=true",
    "alerts.enabled=true",
]


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        pytest.param(
            OPTIONAL,
            {"ClusterRole": 4, "ClusterRoleBinding": 2, "CustomResourceDefinition": 3, "Deployment": 1}
            | {"NetworkPolicy": 1, "PodMonitor": 1, "PrometheusRule": 1, "Service": 1, "ServiceAccount": 1}
            | {"ServiceMonitor": 1},
            id="every-namespace",
        ),
        pytest.param(
            [
                *OPTIONAL,
                "watchNamespaces={NAMESPACE}",
                "networkPolicy.apiServer.cidrs={10.96.0.1/32}",
                "crds.enabled=false",
            ],
            {"ClusterRole": 3, "ClusterRoleBinding": 1, "Deployment": 1, "NetworkPolicy": 1, "PodMonitor": 1}
            | {"PrometheusRule": 1, "Role": 1, "RoleBinding": 1, "Service": 1, "ServiceAccount": 1}
            | {"ServiceMonitor": 1},
            id="listed-namespaces",
        ),
        pytest.param(
            ["metrics.port=0", "networkPolicy.enabled=true", "watchNamespaces={NAMESPACE}", "crds.enabled=false"],
            {"ClusterRole": 3, "ClusterRoleBinding": 1, "Deployment": 1, "NetworkPolicy": 1}
            | {"Role": 1, "RoleBinding": 1, "ServiceAccount": 1},
            id="metrics-off",
        ),
    ],
)
def test_the_rendered_chart_is_accepted_by_the_api_server(
    kube: Service, helm: Helm, monitoring_crds: None, namespace: str, values: list[str], expected: dict[str, int]
) -> None:
    sets = [arg for value in values for arg in ("--set", value.replace("NAMESPACE", namespace))]
    rendered = ok(helm("template", "graphsync", str(CHART), "-n", namespace, *sets))
    applied = kubectl(kube.env, "apply", "--dry-run=server", "-o", "json", "-f", "-", input=rendered)
    assert applied.returncode == 0, applied.stderr
    counted: dict[str, int] = {}
    for kind, _ in kinds(applied.stdout):
        counted[kind] = counted.get(kind, 0) + 1
    assert counted == expected


def test_names_follow_the_overrides_and_the_chart_shows_its_readme(helm: Helm) -> None:
    def names(*sets: str) -> set[str]:
        rendered = ok(helm("template", "g", str(CHART), *[arg for value in sets for arg in ("--set", value)]))
        return {doc["metadata"]["name"] for doc in yaml.safe_load_all(rendered) if doc and doc["kind"] == "Deployment"}

    assert names() == {"g-graphsync-operator"}
    assert names("nameOverride=sync") == {"g-sync-operator"}
    assert names("fullnameOverride=gs") == {"gs-operator"}
    readme = ok(helm("show", "readme", str(CHART)))
    assert readme.startswith("# graphsync chart")
    assert "helm install graphsync charts/graphsync" in readme


def test_security_contexts_are_values_merged_with_the_restricted_defaults(
    kube: Service, helm: Helm, namespace: str, tmp_path: Path
) -> None:
    def contexts(*args: str) -> tuple[dict[str, Any], dict[str, Any]]:
        rendered = ok(helm("template", "graphsync", str(CHART), "-n", namespace, *NO_CRDS, *args))
        [pod] = [d["spec"]["template"]["spec"] for d in manifests.documents(rendered) if d["kind"] == "Deployment"]
        applied = kubectl(kube.env, "apply", "--dry-run=server", "-f", "-", input=rendered)
        assert applied.returncode == 0, applied.stderr
        return pod["securityContext"], pod["containers"][0]["securityContext"]

    pod, container = contexts()
    assert pod == {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "runAsGroup": 65532,
        "fsGroup": 65532,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    # OpenShift's way: its own user ids (null drops a default), the rest kept.
    openshift = tmp_path / "openshift.yaml"
    openshift.write_text(
        "podSecurityContext: {runAsUser: null, runAsGroup: null, fsGroup: null}\n"
        "securityContext: {seLinuxOptions: {level: 's0:c123,c456'}}\n"
    )
    pod, container = contexts("-f", str(openshift))
    assert pod == {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    assert container["seLinuxOptions"] == {"level": "s0:c123,c456"}
    assert container["readOnlyRootFilesystem"] is True


def test_the_grafana_dashboard_configmap_holds_the_dashboard(kube: Service, helm: Helm, namespace: str) -> None:
    rendered = ok(helm("template", "graphsync", str(CHART), "-n", namespace, "--set", "dashboard.enabled=true"))
    applied = kubectl(kube.env, "apply", "--dry-run=server", "-o", "json", "-f", "-", input=rendered)
    assert applied.returncode == 0, applied.stderr
    found = json.loads(applied.stdout)
    [dashboard] = [i for i in found["items"] if i["kind"] == "ConfigMap"]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["graphsync.json"])["title"]


@pytest.fixture(scope="module")
def install_namespace(kube: Service) -> str:
    """install.yaml's namespace, really created: a server-side dry run cannot place objects in a namespace
    that the same dry run only pretends to create."""
    created = kubectl(kube.env, "create", "namespace", manifests.NAMESPACE)
    assert created.returncode == 0 or "AlreadyExists" in created.stderr, created.stderr
    return manifests.NAMESPACE


def test_the_kubectl_install_and_the_kustomize_base_are_accepted(kube: Service, install_namespace: str) -> None:
    applied = kubectl(
        kube.env, "apply", "--server-side", "--dry-run=server", "-o", "json", "-f", str(MANIFESTS / "install.yaml")
    )
    assert applied.returncode == 0, applied.stderr
    listed = kinds(applied.stdout)
    assert ("Deployment", "graphsync-operator") in listed
    assert ("CustomResourceDefinition", "syncpipelines.graphsync.io") in listed
    built = ok(kubectl(kube.env, "kustomize", str(MANIFESTS / "base")))
    from_base = kubectl(kube.env, "apply", "--server-side", "--dry-run=server", "-o", "json", "-f", "-", input=built)
    assert from_base.returncode == 0, from_base.stderr
    assert kinds(from_base.stdout) == listed


def test_applying_the_kubectl_install_twice_changes_nothing(kube: Service, install_namespace: str) -> None:
    """What a GitOps tool does on every sync: the second apply of the same file writes no object."""
    install = str(MANIFESTS / "install.yaml")

    def versions() -> dict[tuple[str, str], Any]:
        """What an apply writing an object changes: its generation and the apply's entry (with its time) in
        managedFields. Not resourceVersion: controllers move it writing status (the Deployment's, as its pod
        starts) while the test runs."""
        listed = json.loads(ok(kubectl(kube.env, "get", "-f", install, "-o", "json", "--show-managed-fields")))
        return {
            (i["kind"], i["metadata"]["name"]): (
                i["metadata"].get("generation"),
                [m for m in i["metadata"]["managedFields"] if m["operation"] == "Apply"],
            )
            for i in listed["items"]
        }

    # Other tests installed the same CRDs with another field manager: this apply takes them over.
    ok(kubectl(kube.env, "apply", "--server-side", "--force-conflicts", "-f", install))
    try:
        first = versions()
        assert ("Deployment", "graphsync-operator") in first
        ok(kubectl(kube.env, "apply", "--server-side", "-f", install))
        assert versions() == first
    finally:
        # The objects go, but not the CRDs (other tests' resources use them) nor the namespace (being deleted,
        # it would refuse the chart's installs into it); the chart's tests install the same cluster-wide names.
        kept = {"CustomResourceDefinition", "Namespace"}
        items = [d for d in yaml.safe_load_all((MANIFESTS / "install.yaml").read_text()) if d and d["kind"] not in kept]
        leaving = {"apiVersion": "v1", "kind": "List", "items": items}
        ok(kubectl(kube.env, "delete", "--wait=true", "--ignore-not-found", "-f", "-", input=json.dumps(leaving)))


def test_every_sample_is_accepted_by_the_api_server(kube: Service, graphsync_crds: None, namespace: str) -> None:
    applied = kubectl(kube.env, "apply", "--dry-run=server", "-n", namespace, "-o", "json", "-f", str(SAMPLES))
    assert applied.returncode == 0, applied.stderr
    assert kinds(applied.stdout) == [
        ("ConflictPolicy", "social-merge"),
        ("ReconciliationJob", "shop-nightly"),
        ("Secret", "graphsync-credentials"),
        ("SyncPipeline", "accounts"),
        ("SyncPipeline", "knowledge-base"),
        ("SyncPipeline", "people-mirror"),
        ("SyncPipeline", "shop"),
        ("SyncPipeline", "social"),
    ]
