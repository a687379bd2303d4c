"""Deleting a namespace that holds a pipeline with deletionPolicy cleanup: nothing new can be made in a namespace
being deleted, so its cleanup Job cannot run; the namespace goes all the same, and what stays is told."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from graphsync_operator.build import names
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, ok

pytestmark = pytest.mark.e2e


def waited_for(kube: Service, namespace: str, check: Callable[[], bool], what: str) -> None:
    """`check` within 5 minutes, else a failure that says what holds the namespace."""
    try:
        eventually(check, what, timeout=300)
    except AssertionError as exc:
        held = kubectl(kube.env, "get", "namespace", namespace, "-o", "jsonpath={.status}").stdout
        left = kubectl(kube.env, "get", "sp,deploy,pods,jobs", "-n", namespace, "-o", "yaml").stdout
        raise AssertionError(f"{exc}\nnamespace status: {held}\nleft in it:\n{left[-6000:]}") from None


def test_deleting_the_namespace_of_a_pipeline_with_cleanup_does_not_hang(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    kube, namespace = c.kube, c.namespace
    c.secret()
    c.pipeline("doomed", c.spec(deletionPolicy="cleanup"))
    eventually(
        lambda: kubectl(kube.env, "get", "deploy", names.deployment("doomed"), "-n", namespace).returncode == 0,
        "the workers",
    )
    stored = json.loads(ok(kubectl(kube.env, "get", "sp", "doomed", "-n", namespace, "-o", "json")))
    assert stored["metadata"]["finalizers"] == ["graphsync.io/cleanup"]

    ok(kubectl(kube.env, "delete", "namespace", namespace, "--wait=false"))
    # The pipeline's finalizer is released (what the operator owes), then the namespace controller finishes, at its
    # own pace when many namespaces are being deleted at once (every test deletes its own).
    waited_for(
        kube,
        namespace,
        lambda: kubectl(kube.env, "get", "sp", "doomed", "-n", namespace).returncode != 0,
        "the pipeline to go",
    )
    waited_for(
        kube, namespace, lambda: kubectl(kube.env, "get", "namespace", namespace).returncode != 0, "the namespace to go"
    )
    found = json.loads(
        ok(
            kubectl(
                kube.env,
                "get",
                "events",
                "-n",
                "default",
                f"--field-selector=involvedObject.kind=Namespace,involvedObject.name={namespace}",
                "-o",
                "json",
            )
        )
    )
    told = [e for e in found["items"] if e["reason"] == "CleanupSkipped"]
    assert len(told) == 1, found["items"]
    assert told[0]["type"] == "Warning"
    message = told[0]["message"]
    assert f"SyncPipeline {namespace}/doomed" in message
    assert f"'{namespace}.doomed'" in message
    assert "graphsync cleanup" in message
