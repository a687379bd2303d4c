"""`kubectl graphsync dlq list` through the pipeline's worker: the real kubectl runs the plugin, which asks the
worker's /deadletters through the real API server's pod proxy, with no database address nor Secret of its own.

The local control plane's node is kwok's, which runs nothing: the kubelet stand-in runs the worker
as a local process on a port of its own, and kwok gives the Pod an address in no network. So that
the API server's proxy (which refuses loopback addresses) reaches the worker as it reaches a pod,
the Pod's status is given this machine's own address, where a forwarder passes the worker's
declared port on to the process.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from graphsync_dev.kube import kubectl
from tests.conftest import eventually
from tests.e2e.helpers import ShopCluster, ok
from tests.e2e.plugin_calls import plugin, shop_running
from tests.tcpproxy import Proxy

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("plugin_on_path")]

WORKER_PORT = 8080


def own_address() -> str:
    """This machine's address on its default route (no packet is sent); the API server may proxy to it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("192.0.2.254", 9))
        address = str(probe.getsockname()[0])
    assert not address.startswith("127."), "no non-loopback address: the API server cannot proxy to this machine"
    return address


@contextmanager
def reachable_at(c: ShopCluster, pod: str, local_port: int) -> Iterator[str]:
    """The worker pod as the API server's proxy reaches a pod: at its status address, on its declared port."""
    address = own_address()
    with Proxy(local_port, listen=(address, WORKER_PORT)):
        status = {"status": {"podIP": address, "podIPs": [{"ip": address}]}}
        ok(
            kubectl(
                c.kube.env,
                "patch",
                "pod",
                pod,
                "-n",
                c.namespace,
                "--subresource=status",
                "--type=merge",
                "-p",
                json.dumps(status),
            )
        )
        yield address


def test_dead_letters_are_listed_through_the_worker(cluster_shop: ShopCluster) -> None:
    c = cluster_shop
    pod, worker = shop_running(c, customers=10)
    c.pg.execute(f"ALTER TABLE {c.schema}.customer ADD COLUMN prefs jsonb")
    c.pg.execute(f'UPDATE {c.schema}.customer SET prefs = \'{{"theme": "dark"}}\' WHERE id = 3')
    with reachable_at(c, pod, worker.ports[WORKER_PORT]):
        # The plugin reads no Secret and connects to no database: only the pod proxy.
        letters = eventually(
            lambda: json.loads(ok(plugin(c, "dlq", "list", "shop", "-o", "json"))) or None, "a dead letter"
        )
        assert [(d["entityType"], d["entityKey"]) for d in letters] == [("customer", 3)]
        assert "property 'prefs' is a map" in letters[0]["reason"]
        table = ok(plugin(c, "dlq", "list", "shop", "-o", "wide")).splitlines()
        assert table[0].split()[:6] == ["ID", "ENTITY", "KEY", "VERSION", "OPERATION", "REPLAYED"]
        assert table[1].split()[1:3] == ["customer", "3"]
        # The same through the engine's spec and Secrets from here: --direct.
        direct = json.loads(ok(plugin(c, "dlq", "list", "shop", "--direct", "-o", "json")))
        assert [d["id"] for d in direct] == [d["id"] for d in letters]
        # A one-way pipeline holds no conflicts: the worker says so, and the plugin passes it on.
        refused = plugin(c, "conflicts", "list", "shop")
        assert refused.returncode == 1
        assert "conflicts are held by bidirectional pipelines" in refused.stderr
        # check: the SyncPipeline as the operator renders it, its Secret read, then each server asked.
        checks = {f"{i['side']} {i['name']}": i for i in json.loads(ok(plugin(c, "check", "shop", "-o", "json")))}
        assert checks["kubernetes spec and secrets"]["outcome"] == "ok"
        assert [name for name, found in checks.items() if found["outcome"] == "failed"] == []
        assert checks["target index on Customer.id"]["outcome"] == "ok"  # the worker made it as it started
    worker.stop()
    # No worker running: said, with the way to read the store without one.
    ok(plugin(c, "pause", "shop", "--wait"))
    stopped = eventually(lambda: (done := plugin(c, "dlq", "list", "shop")).returncode == 2 and done, "no worker")
    assert "no running worker of SyncPipeline 'shop'" in stopped.stderr
