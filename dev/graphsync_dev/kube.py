"""A local Kubernetes control plane: etcd, kube-apiserver, controller-manager, scheduler, kwok.

Every binary is built from the Go module proxy (`gotools`) and listens on free loopback
ports, with a throwaway PKI made by the openssl CLI. kwok plays the kubelet of one fake
node, so Pods are scheduled, reported Running and deleted without any container runtime.
"""

from __future__ import annotations

import base64
import functools
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from graphsync_dev import gotools, process
from graphsync_dev.process import ProcessSpec, SubstrateError
from graphsync_dev.service import Service

NODE_NAME = "kwok-node-0"
SERVICE_CIDR = "10.96.0.0/16"
_KWOK_SELECTOR = ("kwok.x-k8s.io/node", "fake")
_NODE_SIZE = {"cpu": "32", "memory": "256Gi", "pods": "110"}
_Proc = tuple[ProcessSpec, "subprocess.Popen[bytes]"]


def start(run_dir: Path, apiserver_flags: Mapping[str, object] | None = None) -> Service:
    """`apiserver_flags` are added to (or override) kube-apiserver's own: an audit log for a benchmark, say."""
    tools = gotools.ensure_all()
    cluster = _Cluster(run_dir, tools, apiserver_flags or {})
    try:
        env = cluster.start()
    except BaseException:
        for _, proc in reversed(cluster.started):
            process.stop(proc.pid)
        raise
    return Service(
        name="kubernetes",
        pids=tuple(proc.pid for _, proc in cluster.started),
        env=env,
        logs=tuple(str(spec.log_path) for spec, _ in cluster.started),
    )


def _argv(binary: Path, flags: Mapping[str, object]) -> list[str]:
    return [str(binary), *(f"--{name}" if value is True else f"--{name}={value}" for name, value in flags.items())]


class _Cluster:
    """Brings the processes up in dependency order, remembering each one so a failure stops them all."""

    def __init__(self, run_dir: Path, tools: Mapping[str, Path], apiserver_flags: Mapping[str, object]) -> None:
        self.run_dir, self.tools, self.apiserver_flags = run_dir, tools, apiserver_flags
        self.home = run_dir / "kubernetes"
        self.pki = self.home / "pki"
        self.started: list[tuple[ProcessSpec, subprocess.Popen[bytes]]] = []

    def spawn(self, name: str, flags: Mapping[str, object], env: Mapping[str, str] | None = None) -> _Proc:
        spec = ProcessSpec(
            name=name,
            argv=_argv(self.tools[name], flags),
            log_path=self.run_dir / "logs" / f"{name}.log",
            env=env or {},
        )
        proc = process.start(spec)
        self.started.append((spec, proc))
        return spec, proc

    def start(self) -> dict[str, str]:
        _make_pki(self.pki)
        home, pki = self.home, self.pki
        etcd_port, peer_port, api_port = process.free_port(), process.free_port(), process.free_port()
        etcd_url, peer_url = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
        etcd = self.spawn(
            "etcd",
            {
                "name": "node0",
                "data-dir": home / "etcd",
                "listen-client-urls": etcd_url,
                "advertise-client-urls": etcd_url,
                "listen-peer-urls": peer_url,
                "initial-advertise-peer-urls": peer_url,
                "initial-cluster": f"node0={peer_url}",
                # A throwaway cluster: a machine crash costs nothing, while every fsync costs every write.
                "unsafe-no-fsync": True,
            },
        )
        process.wait_ready(*etcd, lambda: '"true"' in _fetch(f"{etcd_url}/health", None), timeout=30)

        api = _Api(api_port, pki)
        apiserver = self.spawn(
            "kube-apiserver",
            {
                "etcd-servers": etcd_url,
                "bind-address": "127.0.0.1",
                "advertise-address": "127.0.0.1",
                "secure-port": api_port,
                "cert-dir": home / "apiserver",
                "tls-cert-file": pki / "apiserver.crt",
                "tls-private-key-file": pki / "apiserver.key",
                "client-ca-file": pki / "ca.crt",
                "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
                "service-account-key-file": pki / "sa.pub",
                "service-account-signing-key-file": pki / "sa.key",
                "service-cluster-ip-range": SERVICE_CIDR,
                "authorization-mode": "Node,RBAC",
                "allow-privileged": "true",
                # Endpoints may not hold loopback addresses, and nothing in the cluster could reach them anyway.
                "endpoint-reconciler-type": "none",
                **self.apiserver_flags,
            },
        )
        process.wait_ready(*apiserver, lambda: api.get("/readyz")[0] == 200, timeout=120)
        kubeconfig = _write_kubeconfig(self.run_dir / "kubeconfig", api.base, pki)

        kcm_port, scheduler_port, kwok_port = process.free_port(), process.free_port(), process.free_port()
        controller_manager = self.spawn(
            "kube-controller-manager",
            {
                "kubeconfig": kubeconfig,
                "leader-elect": "false",
                "use-service-account-credentials": "true",
                "service-account-private-key-file": pki / "sa.key",
                "root-ca-file": pki / "ca.crt",
                "cluster-signing-cert-file": pki / "ca.crt",
                "cluster-signing-key-file": pki / "ca.key",
                "bind-address": "127.0.0.1",
                "secure-port": kcm_port,
                "cert-dir": home / "controller-manager",
                # kwok renews the fake node's status about every 55 s, past the default grace of 50 s on a busy
                # machine; a node marked NotReady has its pods marked unready for good, since no real kubelet
                # is there to mark them ready again.
                "node-monitor-grace-period": "10m",
            },
        )
        scheduler = self.spawn(
            "kube-scheduler",
            {
                "kubeconfig": kubeconfig,
                "leader-elect": "false",
                "bind-address": "127.0.0.1",
                "secure-port": scheduler_port,
                "cert-dir": home / "scheduler",
            },
        )
        kwok_home = home / "kwok-home"
        kwok_home.mkdir(parents=True, exist_ok=True)
        kwok = self.spawn(
            "kwok",
            {
                "kubeconfig": kubeconfig,
                "config": gotools.TOOLS["kwok"].folder / "stages.yaml",
                "manage-nodes-with-annotation-selector": "=".join(_KWOK_SELECTOR),
                "server-address": f"127.0.0.1:{kwok_port}",
            },
            env={"HOME": str(kwok_home)},
        )  # kwok merges ~/.kwok/kwok.yaml when present: keep the user's out.
        for proc, url in (
            (controller_manager, f"https://127.0.0.1:{kcm_port}/healthz"),
            (scheduler, f"https://127.0.0.1:{scheduler_port}/healthz"),
            (kwok, f"http://127.0.0.1:{kwok_port}/healthz"),
        ):
            process.wait_ready(*proc, functools.partial(_healthy, url), timeout=60)

        status, body = api.post("/api/v1/nodes", _node_manifest())
        if status != 201:
            raise SubstrateError(f"creating node {NODE_NAME} failed ({status}): {body}")
        process.wait_ready(*kwok, lambda: _schedulable(api.get(f"/api/v1/nodes/{NODE_NAME}")[1]), timeout=60)
        # Pods are rejected until the ServiceAccount controller has made the namespace's default account.
        default_sa = "/api/v1/namespaces/default/serviceaccounts/default"
        process.wait_ready(*controller_manager, lambda: api.get(default_sa)[0] == 200, timeout=60)
        return {
            "KUBECONFIG": str(kubeconfig),
            "GRAPHSYNC_KUBE_SERVER": api.base,
            "GRAPHSYNC_KUBECTL": str(self.tools["kubectl"]),
            "GRAPHSYNC_HELM": str(self.tools["helm"]),
        }


def probe(env: Mapping[str, str]) -> str:
    readyz = _kubectl_ok(env, "get", "--raw=/readyz")
    if readyz.strip() != "ok":
        raise SubstrateError(f"kube-apiserver at {env.get('GRAPHSYNC_KUBE_SERVER')} is not ready: {readyz.strip()}")
    version = json.loads(_kubectl_ok(env, "get", "--raw=/version"))["gitVersion"]
    nodes = json.loads(_kubectl_ok(env, "get", "nodes", "-o", "json"))["items"]
    ready = sum(1 for node in nodes if _ready(node))
    return f"kubernetes {version}, {ready} node{'' if ready == 1 else 's'} Ready"


def kubectl(env: Mapping[str, str], *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the built kubectl against the substrate's cluster (no shell)."""
    kubeconfig = env["KUBECONFIG"]
    # Discovery cache next to the kubeconfig: a dev cluster must not litter ~/.kube/cache.
    run_env = {**os.environ, "KUBECONFIG": kubeconfig, "KUBECACHEDIR": str(Path(kubeconfig).parent / "kubectl-cache")}
    return subprocess.run(
        [env["GRAPHSYNC_KUBECTL"], *args],
        input=input,
        capture_output=True,
        text=True,
        env=run_env,
        check=False,
        timeout=120,
    )


def _kubectl_ok(env: Mapping[str, str], *args: str) -> str:
    try:
        result = kubectl(env, *args)
    except (OSError, KeyError, subprocess.TimeoutExpired) as exc:
        raise SubstrateError(f"kubectl {' '.join(args)}: {exc}") from exc
    if result.returncode != 0:
        raise SubstrateError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


class _Api:
    """Just enough of a client, with the admin certificate, to bring the cluster up."""

    def __init__(self, port: int, pki: Path) -> None:
        self.base = f"https://127.0.0.1:{port}"
        self.context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.context.load_cert_chain(pki / "admin.crt", pki / "admin.key")

    def get(self, path: str) -> tuple[int, Any]:
        return self._call("GET", path, None)

    def post(self, path: str, body: object) -> tuple[int, Any]:
        return self._call("POST", path, json.dumps(body).encode())

    def _call(self, method: str, path: str, data: bytes | None) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.base + path, data, headers, method=method)  # noqa: S310 - https only
        try:
            with urllib.request.urlopen(request, context=self.context, timeout=5) as response:  # noqa: S310 - https only
                status, raw = int(response.status), response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")


def _fetch(url: str, context: ssl.SSLContext | None) -> str:
    with urllib.request.urlopen(url, context=context, timeout=5) as response:  # noqa: S310 - loopback http(s) only
        return str(response.read().decode(errors="replace"))


def _healthy(url: str) -> bool:
    # The controller-manager and scheduler serve health checks with self-signed certificates they make at startup.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return _fetch(url, context) == "ok"


def _node_manifest() -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "annotations": {_KWOK_SELECTOR[0]: _KWOK_SELECTOR[1]},
            "labels": {"kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "type": "kwok"},
        },
        # kwok keeps a node's allocatable when set; its default (1k CPUs, 1M pods) looks nothing like a node.
        "status": {"allocatable": _NODE_SIZE, "capacity": _NODE_SIZE},
    }


def _ready(node: Mapping[str, Any]) -> bool:
    conditions = node.get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _schedulable(node: object) -> bool:
    # A new node carries the not-ready taint until the node lifecycle controller sees it Ready.
    if not isinstance(node, dict) or not _ready(node):
        return False
    return not any(t.get("effect") in ("NoSchedule", "NoExecute") for t in node.get("spec", {}).get("taints", []))


def _openssl(folder: Path, *args: str) -> None:
    result = subprocess.run(["openssl", *args], cwd=folder, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SubstrateError(f"openssl {' '.join(args)} failed: {result.stderr.strip()}")


def _issue(folder: Path, name: str, subject: str, usage: str, *extensions: str) -> None:
    """A key and a certificate signed by the cluster CA (OpenSSL 3's `req -x509 -CA`)."""
    extra = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment"]
    extra += [f"extendedKeyUsage={usage}", *extensions]
    args = f"req -x509 -newkey rsa:2048 -nodes -days 365 -keyout {name}.key -out {name}.crt -CA ca.crt -CAkey ca.key"
    _openssl(folder, *args.split(), "-subj", subject, *(arg for ext in extra for arg in ("-addext", ext)))


def _make_pki(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    ca = "req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt -subj /CN=graphsync-dev-ca"
    usage = "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
    _openssl(folder, *ca.split(), "-addext", "basicConstraints=critical,CA:TRUE", "-addext", usage)
    names = "IP:127.0.0.1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default"
    names += ",DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    _issue(folder, "apiserver", "/CN=kube-apiserver", "serverAuth", f"subjectAltName={names}")
    # system:masters is bound to cluster-admin; every component runs as this admin, as kwokctl does.
    _issue(folder, "admin", "/O=system:masters/CN=graphsync-admin", "clientAuth")
    _openssl(folder, "genrsa", "-out", "sa.key", "2048")
    _openssl(folder, "rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub")


def _write_kubeconfig(path: Path, server: str, pki: Path) -> Path:
    def data(name: str) -> str:
        return base64.b64encode((pki / name).read_bytes()).decode()

    cluster = {"server": server, "certificate-authority-data": data("ca.crt")}
    user = {"client-certificate-data": data("admin.crt"), "client-key-data": data("admin.key")}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "graphsync", "cluster": cluster}],
        "users": [{"name": "graphsync-admin", "user": user}],
        "contexts": [{"name": "graphsync", "context": {"cluster": "graphsync", "user": "graphsync-admin"}}],
        "current-context": "graphsync",
    }
    # JSON is YAML: every Kubernetes client reads it.
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path
