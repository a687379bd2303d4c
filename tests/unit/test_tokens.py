"""A worker's way to the API server without the `kubernetes` client: which configurations it reads (pure)."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

from graphsync_operator import tokens


def kubeconfig(user: dict[str, Any], **cluster: Any) -> dict[str, Any]:
    return {
        "current-context": "pod",
        "contexts": [
            {"name": "other", "context": {"cluster": "x", "user": "x"}},
            {"name": "pod", "context": {"cluster": "c", "user": "u", "namespace": "shop"}},
        ],
        "clusters": [{"name": "c", "cluster": {"server": "https://10.0.0.1:6443", **cluster}}],
        "users": [{"name": "u", "user": user}],
    }


def test_in_a_pod_the_service_account_token_is_read_again_for_each_request() -> None:
    found = tokens.in_cluster({"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "443"})
    assert found == tokens.Endpoint(
        server="https://10.96.0.1:443",
        token_file="/var/run/secrets/kubernetes.io/serviceaccount/token",
        ca_file="/var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
    )
    assert tokens.in_cluster({"KUBERNETES_SERVICE_HOST": "fd00::1"}).server == "https://[fd00::1]:443"


def test_a_kubeconfig_of_a_token_user_gives_its_current_context_s_server_token_and_ca() -> None:
    found = tokens.from_kubeconfig(kubeconfig({"token": "t0k"}, **{"certificate-authority": "/ca.crt"}))
    assert found == tokens.Endpoint(server="https://10.0.0.1:6443", token="t0k", ca_file="/ca.crt")
    from_file = tokens.from_kubeconfig(kubeconfig({"tokenFile": "/t"}, **{"insecure-skip-tls-verify": True}))
    assert from_file == tokens.Endpoint(server="https://10.0.0.1:6443", token_file="/t", verify=False)


def test_any_other_user_is_left_to_the_full_client() -> None:
    assert tokens.from_kubeconfig(kubeconfig({"exec": {"command": "aws"}})) is None
    assert tokens.from_kubeconfig(kubeconfig({"client-certificate": "/c", "client-key": "/k"})) is None
    assert tokens.from_kubeconfig(kubeconfig({"token": "t", "client-certificate": "/c"})) is None
    assert tokens.from_kubeconfig({}) is None


def test_the_worker_never_imports_the_kubernetes_client() -> None:
    probe = (
        "import sys, graphsync_operator.worker.command;"
        " print(sorted(m for m in sys.modules if m.startswith('kubernetes')))"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
