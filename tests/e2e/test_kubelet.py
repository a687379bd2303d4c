"""The kubelet stand-in runs a real Pod's container from its spec, with the pod's own API rights."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from graphsync_dev import kubelet
from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service

pytestmark = pytest.mark.e2e

# Reports what the process sees, then stays up so the test can kill it.
SCRIPT = """
import json, os, sys, time
seen = {"env": dict(os.environ), "config": open(sys.argv[2]).read(), "cwd": os.getcwd()}
with open(sys.argv[1] + ".tmp", "w") as out:
    json.dump(seen, out)
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
"""


def ok(result: Any) -> str:
    assert result.returncode == 0, result.stderr
    return str(result.stdout)


def apply(kube: Service, *objects: dict[str, Any]) -> None:
    ok(kubectl(kube.env, "apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})))


def manifests(namespace: str) -> list[dict[str, Any]]:
    meta = {"namespace": namespace}
    container = {
        "name": "probe",
        "image": "registry.invalid/never-pulled:1",
        "command": ["python3", "-c", SCRIPT],
        "args": ["/out/seen.json", "/etc/probe/settings.yaml"],
        "ports": [{"containerPort": 8080}],
        "env": [
            {"name": "PG_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "PORT", "value": "8080"},
        ],
        "volumeMounts": [{"name": "out", "mountPath": "/out"}, {"name": "settings", "mountPath": "/etc/probe"}],
    }
    role_ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-config"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "pg", **meta},
            "stringData": {"password": "s3cret"},
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "probe", **meta},
            "data": {"settings.yaml": "a: 1\n"},
        },
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "syncer", **meta}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "read-config", **meta},
            "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "syncer-reads-config", **meta},
            "subjects": [{"kind": "ServiceAccount", "name": "syncer", "namespace": namespace}],
            "roleRef": role_ref,
        },
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "probe", "labels": {"app": "probe"}, **meta},
            "spec": {
                "serviceAccountName": "syncer",
                "containers": [container],
                "volumes": [{"name": "out", "emptyDir": {}}, {"name": "settings", "configMap": {"name": "probe"}}],
            },
        },
    ]


def test_a_pod_runs_locally_from_its_spec(kube: Service, namespace: str, tmp_path: Path) -> None:
    apply(kube, *manifests(namespace))
    assert kubelet.wait_pods(kube.env, namespace, "app=probe") == ["probe"]

    pod = kubelet.run_pod(kube.env, namespace, "probe", tmp_path)
    try:
        seen_file = pod.local.mounts["/out"] / "seen.json"
        deadline = time.monotonic() + 30
        while not seen_file.exists():
            assert pod.alive(), f"the pod's process exited: {pod.log_path.read_text()}"
            assert time.monotonic() < deadline, f"no {seen_file}; log: {pod.log_path.read_text()}"
            time.sleep(0.2)
        seen = json.loads(seen_file.read_text())
        env = seen["env"]
        assert env["PG_PASSWORD"] == "s3cret"
        assert env["POD_NAME"] == "probe"
        assert env["PORT"] == str(pod.ports[8080]) != "8080"
        assert "PYTEST_CURRENT_TEST" in os.environ
        assert "PYTEST_CURRENT_TEST" not in env  # the pod sees its spec, not the test's environment
        assert seen["config"] == "a: 1\n"

        # The kubeconfig authenticates as the pod's ServiceAccount, with exactly its RBAC rights.
        as_pod = {**kube.env, "KUBECONFIG": env["KUBECONFIG"]}
        whoami = json.loads(ok(kubectl(as_pod, "auth", "whoami", "-o", "json")))
        assert whoami["status"]["userInfo"]["username"] == f"system:serviceaccount:{namespace}:syncer"
        assert ok(kubectl(as_pod, "get", "configmap", "probe", "-o", "name")).strip() == "configmap/probe"
        assert kubectl(as_pod, "auth", "can-i", "get", "configmaps").stdout.strip() == "yes"
        assert kubectl(as_pod, "auth", "can-i", "get", "secrets").stdout.strip() == "no"
        # What the ServiceAccount admission plugin mounted is there too, with the same token.
        [access] = [path for mount, path in pod.local.mounts.items() if mount.endswith("kubernetes.io/serviceaccount")]
        assert (access / "namespace").read_text() == namespace
        assert "BEGIN CERTIFICATE" in (access / "ca.crt").read_text()

        pod.kill()
        assert pod.wait(10) == 137
    finally:
        if pod.alive():
            pod.stop()
