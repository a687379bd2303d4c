"""The local control plane behaves like a real cluster: CRD validation, controllers, kwok, versions."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from graphsync_dev import kube as cluster
from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from tests.conftest import eventually

pytestmark = pytest.mark.e2e

CRD_NAME = "widgets.smoke.graphsync.io"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": CRD_NAME},
    "spec": {
        "group": "smoke.graphsync.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["owner"],
                                "properties": {
                                    "owner": {"type": "string"},
                                    "size": {"type": "string", "enum": ["small", "large"]},
                                    "slug": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
                                },
                            }
                        },
                    }
                },
            }
        ],
    },
}


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def widget(name: str, namespace: str, spec: dict[str, str]) -> str:
    return json.dumps(
        {
            "apiVersion": "smoke.graphsync.io/v1",
            "kind": "Widget",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


@pytest.fixture
def widget_crd(kube: Service) -> Iterator[str]:
    ok(kubectl(kube.env, "apply", "-f", "-", input=json.dumps(CRD)))
    yield CRD_NAME
    ok(kubectl(kube.env, "delete", "crd", CRD_NAME, "--wait=false"))


def test_structural_crd_is_established_and_validates_objects(kube: Service, widget_crd: str, namespace: str) -> None:
    ok(kubectl(kube.env, "wait", "--for=condition=Established", f"crd/{widget_crd}", "--timeout=60s"))

    valid = widget("good", namespace, {"owner": "team-a", "size": "small", "slug": "good-one"})
    assert "widget.smoke.graphsync.io/good created" in ok(kubectl(kube.env, "create", "-f", "-", input=valid))

    invalid = widget("bad", namespace, {"size": "huge", "slug": "Not_A_Slug"})
    rejected = kubectl(kube.env, "create", "-f", "-", input=invalid)
    assert rejected.returncode != 0
    assert 'The Widget "bad" is invalid' in rejected.stderr
    assert 'spec.size: Unsupported value: "huge": supported values: "small", "large"' in rejected.stderr
    assert "spec.owner: Required value" in rejected.stderr
    assert "spec.slug in body should match '^[a-z][a-z0-9-]*$'" in rejected.stderr
    listed = json.loads(ok(kubectl(kube.env, "get", "widgets", "-n", namespace, "-o", "json")))
    assert [item["metadata"]["name"] for item in listed["items"]] == ["good"]


def items(kube: Service, kind: str, namespace: str) -> list[dict[str, Any]]:
    out = ok(kubectl(kube.env, "get", kind, "-n", namespace, "-l", "app=smoke", "-o", "json"))
    found: list[dict[str, Any]] = json.loads(out)["items"]
    return found


def test_deployment_runs_on_the_kwok_node_and_is_garbage_collected(kube: Service, namespace: str) -> None:
    ok(kubectl(kube.env, "create", "deployment", "smoke", "-n", namespace, "--image=registry.invalid/smoke:1"))

    eventually(lambda: len(items(kube, "replicasets", namespace)) == 1, "the Deployment's ReplicaSet")
    [replicaset] = items(kube, "replicasets", namespace)
    assert replicaset["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert replicaset["metadata"]["ownerReferences"][0]["name"] == "smoke"

    def pod_running() -> bool:
        pods = items(kube, "pods", namespace)
        return len(pods) == 1 and pods[0]["status"].get("phase") == "Running"

    eventually(pod_running, "a Running Pod")
    [pod] = items(kube, "pods", namespace)
    assert pod["spec"]["nodeName"] == cluster.NODE_NAME
    assert pod["metadata"]["ownerReferences"][0]["name"] == replicaset["metadata"]["name"]

    ok(kubectl(kube.env, "delete", "deployment", "smoke", "-n", namespace))
    eventually(
        lambda: not items(kube, "replicasets", namespace) and not items(kube, "pods", namespace),
        "garbage collection of the ReplicaSet and its Pod",
    )


def test_versions(kube: Service) -> None:
    versions = json.loads(ok(kubectl(kube.env, "version", "-o", "json")))
    assert versions["serverVersion"]["gitVersion"] == "v1.34.4"
    assert versions["clientVersion"]["gitVersion"] == "v1.34.4"
    assert cluster.probe(kube.env) == "kubernetes v1.34.4, 1 node Ready"
    helm = subprocess.run(
        [kube.env["GRAPHSYNC_HELM"], "version", "--short"], capture_output=True, text=True, check=True
    )
    assert helm.stdout.startswith("v3.22.0")
