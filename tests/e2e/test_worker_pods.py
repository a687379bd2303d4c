"""Worker pods as a real cluster needs them: every pod option of a SyncPipeline reaches the Deployment the
operator makes, the API server accepts it, the scheduler places its pod on the node, and `kubectl scale`
changes how many there are."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graphsync_dev.kube import NODE_NAME, kubectl
from graphsync_dev.service import Service
from graphsync_operator.build import names
from tests.conftest import eventually
from tests.e2e.helpers import WORKERS, ok, secret, status
from tests.resources import resource, shop_spec
from tests.worker_pods import every_option

pytestmark = pytest.mark.e2e


@pytest.fixture
def priority_class(kube: Service) -> Iterator[str]:
    """A PriorityClass of the test's own (they are cluster-wide): a pod naming one that does not exist is refused."""
    name = f"graphsync-e2e-{uuid.uuid4().hex[:8]}"
    manifest = {
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": name},
        "value": 1000,
    }
    ok(kubectl(kube.env, "apply", "-f", "-", input=json.dumps(manifest)))
    yield name
    ok(kubectl(kube.env, "delete", "priorityclass", name, "--ignore-not-found"))


def get(kube: Service, namespace: str, *what: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(ok(kubectl(kube.env, "get", *what, "-n", namespace, "-o", "json")))
    return found


def deployment(kube: Service, namespace: str) -> dict[str, Any] | None:
    done = kubectl(kube.env, "get", "deployment", names.deployment("shop"), "-n", namespace, "-o", "json")
    return dict(json.loads(done.stdout)) if done.returncode == 0 else None


def scheduled_pods(kube: Service, namespace: str, count: int) -> list[dict[str, Any]]:
    """The worker pods, once `count` of them are bound to a node and running there."""
    pods = get(kube, namespace, "pods", "-l", WORKERS.format("shop"))["items"]
    placed = [p for p in pods if p["spec"].get("nodeName") and p.get("status", {}).get("phase") == "Running"]
    return placed if len(placed) == count else []


def test_every_pod_option_reaches_a_worker_the_cluster_schedules_and_kubectl_scale_sets_how_many(
    kube: Service, namespace: str, operator: Path, priority_class: str
) -> None:
    ok(
        kubectl(
            kube.env,
            "apply",
            "-f",
            "-",
            input=json.dumps(secret(namespace, {"pg-password": "x", "neo4j-password": "y"})),
        )
    )
    options = every_option(priority_class)
    ok(
        kubectl(
            kube.env,
            "apply",
            "-f",
            "-",
            input=json.dumps(resource("SyncPipeline", "shop", namespace, {**shop_spec(), "workers": options})),
        )
    )

    try:
        made = eventually(lambda: deployment(kube, namespace), "the worker Deployment", timeout=60)
    except AssertionError:
        log = operator.read_text()[-3000:]
        raise AssertionError(f"{json.dumps(status(kube, namespace, 'shop'), indent=1)}\n{log}") from None
    template = made["spec"]["template"]
    pod = template["spec"]
    # As stored by the API server: accepted whole, each option where a Pod has it.
    assert pod["imagePullSecrets"] == [{"name": "registry-cred"}]
    assert pod["priorityClassName"] == priority_class
    assert pod["nodeSelector"] == options["nodeSelector"]
    assert pod["tolerations"] == options["tolerations"]
    assert pod["affinity"] == options["affinity"]
    for key, value in options["podLabels"].items():
        assert template["metadata"]["labels"][key] == value
    for key, value in options["podAnnotations"].items():
        assert template["metadata"]["annotations"][key] == value
    [worker] = pod["containers"]
    env = {var["name"]: var.get("value") for var in worker["env"]}
    assert all(env[var["name"]] == var["value"] for var in options["env"])
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes["ca-bundle"]["configMap"] == {"name": "company-ca", "optional": True, "defaultMode": 420}
    assert volumes["scratch"]["emptyDir"] == {"sizeLimit": "64Mi"}
    assert volumes["pod-info"]["downwardAPI"]["items"][0]["path"] == "labels"
    mounts = {mount["mountPath"]: mount for mount in worker["volumeMounts"]}
    assert mounts["/etc/ssl/company"] == {"name": "ca-bundle", "mountPath": "/etc/ssl/company", "readOnly": True}
    assert mounts["/scratch"]["name"] == "scratch"
    assert {"/etc/graphsync", "/var/cache/graphsync", "/tmp"} <= set(mounts)  # the operator's own, still there

    # The node satisfies the selector, the affinity and (having no taints) the tolerations: the pod is placed,
    # and the ReplicaSet controller's admission took its priority class.
    [placed] = eventually(lambda: scheduled_pods(kube, namespace, 1), "a worker pod running on the node")
    assert placed["spec"]["nodeName"] == NODE_NAME
    assert placed["spec"]["priority"] == 1000

    # `kubectl scale` goes through the scale subresource to spec.workers.replicas, and the operator follows.
    ok(kubectl(kube.env, "scale", "syncpipeline", "shop", "-n", namespace, "--replicas=2"))
    assert get(kube, namespace, "sp", "shop")["spec"]["workers"]["replicas"] == 2
    eventually(lambda: (deployment(kube, namespace) or {}).get("spec", {}).get("replicas") == 2, "two replicas")
    assert len(eventually(lambda: scheduled_pods(kube, namespace, 2), "two worker pods on the node")) == 2
    eventually(lambda: status(kube, namespace, "shop").get("desiredWorkers") == 2, "status.desiredWorkers 2")
    scale = get(kube, namespace, "sp", "shop", "--subresource=scale")
    assert scale["spec"]["replicas"] == 2
    # An autoscaler finds the pods it scales by the selector the scale subresource gives.
    selected = get(kube, namespace, "pods", "-l", scale["status"]["selector"])["items"]
    assert len(selected) == 2

    ok(kubectl(kube.env, "scale", "syncpipeline", "shop", "-n", namespace, "--replicas=1"))
    eventually(lambda: (deployment(kube, namespace) or {}).get("spec", {}).get("replicas") == 1, "back to one replica")


def test_the_api_server_refuses_volumes_the_operator_cannot_take_naming_the_field(
    kube: Service, graphsync_crds: None, namespace: str
) -> None:
    def refused(workers: dict[str, Any], *said: str) -> None:
        manifest = resource("SyncPipeline", "shop", namespace, {**shop_spec(), "workers": workers})
        done = kubectl(kube.env, "apply", "-f", "-", input=json.dumps(manifest))
        assert done.returncode != 0, f"accepted: {workers}"
        for fragment in said:
            assert fragment in done.stderr, done.stderr

    refused(
        {"volumes": [{"name": "both", "emptyDir": {}, "configMap": {"name": "c"}}, {"name": "none"}]},
        "spec.workers.volumes[0]: Invalid value",
        "spec.workers.volumes[1]: Invalid value",
        "a volume has exactly one source",
    )
    # Kinds the restricted Pod Security Standard refuses are no field here (kubectl's strict decoding names it).
    refused(
        {"volumes": [{"name": "node", "hostPath": {"path": "/"}}]}, 'unknown field "spec.workers.volumes[0].hostPath"'
    )
    refused({"volumes": [{"name": "config", "emptyDir": {}}]}, "spec.workers.volumes[0].name", "the operator's own")
    refused(
        {"volumes": [{"name": "a", "emptyDir": {}}, {"name": "a", "secret": {"secretName": "s"}}]},
        'spec.workers.volumes[1]: Duplicate value: {"name":"a"}',
    )
    refused(
        {"volumeMounts": [{"name": "elsewhere", "mountPath": "/x"}]},
        "spec.workers.volumeMounts",
        "each names one of workers.volumes",
    )
    # Affinity is kept as written: the API server checks it when it stores the Deployment, not here.
    manifest = resource("SyncPipeline", "shop", namespace, {**shop_spec(), "workers": every_option()})
    ok(kubectl(kube.env, "apply", "-f", "-", input=json.dumps(manifest)))
    stored = get(kube, namespace, "sp", "shop")["spec"]["workers"]
    assert stored["affinity"] == every_option()["affinity"]
    assert stored["volumes"] == every_option()["volumes"]
