"""`kubectl graphsync dlq list` through the pipeline's worker: the real kubectl runs the plugin, which asks the
worker's /deadletters through the real API server's pod proxy, with no database address nor Secret of its own.

The local control plane's node is kwok's, which runs nothing: the kubelet stand-in runs a worker
as a local process, and kwok gives the Pod an address in no network. So that the API server's
proxy (which refuses loopback addresses) reaches the worker as it reaches a pod, the Pod's
status is given this machine's own address, where a forwarder passes its declared port on to
the process. Every pod here shares this machine's ports, and the operator's 8080 may be taken
(an operator elsewhere serves its metrics there): the worker asked is a copy of the operator's
pod that declares a free port, the operator's own paused away.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from graphsync_dev import kubelet
from graphsync_dev.kube import kubectl
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, ok
from tests.e2e.plugin_calls import plugin, shop_running, shown
from tests.tcpproxy import Proxy

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("plugin_on_path")]

COPY = "shop-asked"


def own_address() -> str:
    """This machine's address on its default route (no packet is sent); the API server may proxy to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), "no non-loopback address: the API server cannot proxy to this machine"
    return address


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def get(c: ShopCluster, *what: str) -> dict[str, Any]:
    return dict(json.loads(ok(kubectl(c.kube.env, "get", *what, "-n", c.namespace, "-o", "json"))))


def copy_of(c: ShopCluster, pod: str, port: int) -> dict[str, Any]:
    """The worker pod again, declaring `port`, with the worker's labels (the plugin finds it by them) and owned by
    the pipeline's ConfigMap, so that no ReplicaSet counts it or removes it."""
    found = get(c, "pod", pod)
    config = get(c, "configmap", "shop-pipeline")
    [container] = found["spec"]["containers"]
    container["ports"] = [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    container["env"] = [
        {"name": e["name"], "value": str(port)} if e["name"] == "GRAPHSYNC_HTTP_PORT" else e for e in container["env"]
    ]
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "shop-pipeline", "uid": config["metadata"]["uid"]}
    metadata = {"name": COPY, "namespace": c.namespace, "labels": found["metadata"]["labels"]}
    spec = {key: value for key, value in found["spec"].items() if key != "nodeName"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**metadata, "ownerReferences": [{**owner, "controller": True}]},
        "spec": spec,
    }


@contextmanager
def worker_reachable(c: ShopCluster, copy: dict[str, Any], address: str, port: int) -> Iterator[kubelet.RunningPod]:
    """The copy running, as the API server's proxy reaches a pod: at its status address, on its declared port."""
    ok(kubectl(c.kube.env, "apply", "-f", "-", input=json.dumps(copy)))
    eventually(lambda: get(c, "pod", COPY).get("status", {}).get("phase") == "Running", "the copy Running")
    worker = c.run(COPY)
    eventually(lambda: listening(worker.ports[port]), "the copy's worker serving")
    try:
        with Proxy(worker.ports[port], listen=(address, port)):
            status = json.dumps({"status": {"podIP": address, "podIPs": [{"ip": address}]}})
            patch = ("--subresource=status", "--type=merge", "-p", status)
            ok(kubectl(c.kube.env, "patch", "pod", COPY, "-n", c.namespace, *patch))
            yield worker
    finally:
        worker.stop()
        ok(kubectl(c.kube.env, "delete", "pod", COPY, "-n", c.namespace, "--wait=false"))


def test_dead_letters_are_listed_through_the_worker(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    pod, worker = shop_running(c, customers=10)
    c.pg.execute(f"ALTER TABLE {c.schema}.customer ADD COLUMN prefs jsonb")
    c.pg.execute(f'UPDATE {c.schema}.customer SET prefs = \'{{"theme": "dark"}}\' WHERE id = 3')
    eventually(lambda: (shown(c, "shop")["failed"] or 0) >= 1, "the poison row dead-lettered")
    # The operator's worker paused away: its copy is the one worker to ask.
    address = own_address()
    port = free_port(address)
    copy = copy_of(c, pod, port)
    ok(plugin(c, "pause", "shop", "--wait"))
    eventually(lambda: not c.workers("shop"), "the worker pod to go")
    worker.stop()
    with worker_reachable(c, copy, address, port):
        # The plugin reads no Secret and connects to no database: only the pod proxy.
        letters = json.loads(ok(plugin(c, "dlq", "list", "shop", "-o", "json")))
        assert [(d["entityType"], d["entityKey"]) for d in letters] == [("customer", 3)]
        assert "property 'prefs' is a map" in letters[0]["reason"]
        assert "payload" not in letters[0]  # row values stay off the worker's port
        table = ok(plugin(c, "dlq", "list", "shop", "-o", "wide")).splitlines()
        assert table[0].split()[:6] == ["ID", "ENTITY", "KEY", "VERSION", "OPERATION", "REPLAYED"]
        assert table[1].split()[1:3] == ["customer", "3"]
        # The same through the engine's spec and Secrets from here: --direct, values included.
        direct = json.loads(ok(plugin(c, "dlq", "list", "shop", "--direct", "-o", "json")))
        assert [d["id"] for d in direct] == [d["id"] for d in letters]
        assert direct[0]["payload"]["prefs"] == {"theme": "dark"}
        # A one-way pipeline holds no conflicts: the worker says so, and the plugin passes it on.
        refused = plugin(c, "conflicts", "list", "shop")
        assert refused.returncode == 1
        assert "conflicts are held by bidirectional pipelines" in refused.stderr
        # check: the SyncPipeline as the operator renders it, its Secret read, then each server asked.
        checks = {f"{i['side']} {i['name']}": i for i in json.loads(ok(plugin(c, "check", "shop", "-o", "json")))}
        assert checks["kubernetes spec and secrets"]["outcome"] == "ok"
        assert [name for name, found in checks.items() if found["outcome"] == "failed"] == []
        assert checks["target index on Customer.id"]["outcome"] == "ok"  # the worker made it as it started
    # No worker running: said, with the way to read the store without one.
    stopped = eventually(lambda: (done := plugin(c, "dlq", "list", "shop")).returncode == 2 and done, "no worker")
    assert "no running worker of SyncPipeline 'shop'" in stopped.stderr
