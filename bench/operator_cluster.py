"""bench.operator's control plane, as its admin: the CRDs, the namespace, the operator's identity, a client.

The operator runs under its own ServiceAccount so that the audit log tells its requests
apart; the bench itself polls with the admin certificate, which the audit policy leaves out.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml

from graphsync_dev import kube
from graphsync_dev.process import SubstrateError
from graphsync_operator.api.crds import all_crds

NAMESPACE = "bench-operator"
ACCOUNT = "graphsync-operator"
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
SECRET = "shop-db"  # what tests.resources.shop_spec's secretKeyRefs name


# --- the cluster, as its admin ---------------------------------------------------------------


class Admin:
    """A keep-alive HTTPS client with the admin certificate, for the polling (not audited)."""

    def __init__(self, kubeconfig: Path, folder: Path) -> None:
        config = json.loads(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, key in (("ca.crt", "certificate-authority-data"), ("admin.crt", "client-certificate-data")):
            files[name] = folder / name
            files[name].write_bytes(base64.b64decode(cluster.get(key) or user[key]))
        files["admin.key"] = folder / "admin.key"
        files["admin.key"].write_bytes(base64.b64decode(user["client-key-data"]))
        files["admin.key"].chmod(0o600)
        self.server = cluster["server"]
        self.ca_data = cluster["certificate-authority-data"]
        self.context = ssl.create_default_context(cafile=str(files["ca.crt"]))
        self.context.load_cert_chain(files["admin.crt"], files["admin.key"])
        where = urlsplit(self.server)
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 443
        self.conn: http.client.HTTPSConnection | None = None

    def list(self, path: str, *, selector: str = "", metadata_only: bool = False) -> list[dict[str, Any]]:
        query = f"?{urlencode({'labelSelector': selector})}" if selector else ""
        accept = "application/json"
        if metadata_only:
            accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
            try:
                self.conn.request("GET", path.format(ns=NAMESPACE) + query, headers={"Accept": accept})
                response = self.conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise SubstrateError(f"GET {path}: {response.status} {body[:300]!r}")
            items: list[dict[str, Any]] = json.loads(body).get("items") or []  # null when there are none
            return items
        raise AssertionError("unreachable")


def kubectl_ok(env: Mapping[str, str], *args: str, input: str | None = None) -> str:
    result = kube.kubectl(env, *args, input=input)
    if result.returncode != 0:
        raise SubstrateError(f"kubectl {' '.join(args)[:200]} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def install_crds(env: Mapping[str, str]) -> None:
    kubectl_ok(env, "apply", "-f", "-", input=yaml.safe_dump_all(list(all_crds().values())))
    for crd in all_crds().values():
        name = crd["metadata"]["name"]
        deadline = time.monotonic() + 60
        # Right after creation kubectl may find no conditions at all and give up instead of waiting.
        while kube.kubectl(env, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s").returncode:
            if time.monotonic() > deadline:
                raise SubstrateError(f"CRD {name} not Established after 60 s")
            time.sleep(0.5)


def prepare_namespace(env: Mapping[str, str]) -> None:
    """The namespace, the Secret the pipelines reference, and the operator's identity (cluster-admin: simplest)."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "stringData": {"pg-password": "bench", "neo4j-password": "bench"},
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": NAMESPACE}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{ACCOUNT}-bench"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    kubectl_ok(env, "apply", "-f", "-", input=yaml.safe_dump_all([namespace]))
    kubectl_ok(env, "apply", "-f", "-", input=yaml.safe_dump_all([secret, account, binding]))


def wait_for_storage(admin: Admin) -> None:
    """Established is not served yet: a list answers 429 "storage is (re)initializing" for a moment after."""
    deadline = time.monotonic() + 60
    for crd in all_crds().values():
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        path = f"/apis/{group}/{crd['spec']['versions'][0]['name']}/namespaces/{{ns}}/{plural}"
        while True:
            try:
                admin.list(path)
                break
            except SubstrateError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def start_apply(env: Mapping[str, str], path: Path) -> subprocess.Popen[bytes]:
    """`kubectl apply -f` as a user runs it, in the background: the polling starts at once."""
    kubeconfig = env["KUBECONFIG"]
    cache = str(Path(kubeconfig).parent / "kubectl-cache")
    with (path.parent / "kubectl-apply.log").open("wb") as out:
        return subprocess.Popen(
            [env["GRAPHSYNC_KUBECTL"], "apply", "-f", str(path)],
            env={**os.environ, "KUBECONFIG": kubeconfig, "KUBECACHEDIR": cache},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def operator_kubeconfig(env: Mapping[str, str], admin: Admin, path: Path) -> Path:
    token = kubectl_ok(env, "create", "token", ACCOUNT, "-n", NAMESPACE, "--duration=2h").strip()
    cluster = {"server": admin.server, "certificate-authority-data": admin.ca_data}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": cluster}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": ACCOUNT, "namespace": NAMESPACE}}],
        "current-context": "bench",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path
