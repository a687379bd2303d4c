"""The kubelet stand-in's plan: a Pod spec turned into argv, env and files, on plain data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from graphsync_dev.localpod import LocalPod, expand, plan

ROOT = Path("/run/pod")


def pod(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    base = {"name": "worker", "command": ["graphsync", "run"]}
    return {
        "metadata": {"name": "shop-7d9f", "namespace": "sync", "uid": "u-1", "labels": {"app": "shop"}},
        "spec": {"containers": [{**base, **container}], "serviceAccountName": "syncer", "nodeName": "kwok-0", **spec},
    }


def make(
    manifest: dict[str, Any],
    *,
    secrets: dict[str, dict[str, str]] | None = None,
    config_maps: dict[str, dict[str, str]] | None = None,
    token: str | None = None,
    python_bin: Path = Path("/nonexistent/bin"),
    local_ports: dict[int, int] | None = None,
) -> LocalPod:
    return plan(
        manifest,
        secrets=secrets or {},
        config_maps=config_maps or {},
        token=token,
        api_server="https://127.0.0.1:6443",
        ca_file="/pki/ca.crt",
        root=ROOT,
        python_bin=python_bin,
        local_ports=local_ports,
    )


def test_env_comes_from_every_source_and_nothing_else() -> None:
    env = [
        {"name": "PLAIN", "value": "x"},
        {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}},
        {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
        {"name": "IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
        {"name": "GONE", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}},
        {"name": "FROM_MAP", "value": "overridden"},
    ]
    env_from = [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "pg"}}]
    local = make(
        pod({"env": env, "envFrom": env_from}),
        secrets={"pg": {"password": "s3cret", "bad key": "skipped"}},
        config_maps={"settings": {"mode": "fast", "FROM_MAP": "x"}},
    )
    declared = {k: v for k, v in local.env.items() if k not in ("PATH", "HOME", "LANG", "HOSTNAME")}
    assert declared == {
        "CFG_mode": "fast",
        "CFG_FROM_MAP": "x",
        "password": "s3cret",
        "PLAIN": "x",
        "PASSWORD": "s3cret",
        "MODE": "fast",
        "POD": "shop-7d9f",
        "NS": "sync",
        "NODE": "kwok-0",
        "SA": "syncer",
        "IP": "127.0.0.1",
        "APP": "shop",
        "FROM_MAP": "overridden",
    }
    assert local.env["PATH"].startswith("/nonexistent/bin:")
    assert local.env["HOME"] == str(ROOT / "home")
    assert local.env["HOSTNAME"] == "shop-7d9f"
    assert local.kubeconfig is None  # no token, no API access


def test_a_missing_secret_or_key_names_the_variable_and_the_reference() -> None:
    ref = {"name": "PG_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "pg", "key": "password"}}}
    with pytest.raises(ValueError, match=r"pod sync/shop-7d9f: env\[PG_PASSWORD\]: key 'password' not in secret 'pg'"):
        make(pod({"env": [ref]}), secrets={"pg": {"user": "app"}})
    with pytest.raises(ValueError, match=r"env\[PG_PASSWORD\]: secret 'pg' not found"):
        make(pod({"env": [ref]}))


def test_variables_expand_like_the_kubelet() -> None:
    assert expand("$(A)-$(B)-$$(A)-$(MISSING)-$x", {"A": "1", "B": "2"}) == "1-2-$(A)-$(MISSING)-$x"
    env = [{"name": "HOST", "value": "db"}, {"name": "URL", "value": "pg://$(HOST):5432"}]
    local = make(pod({"env": env, "args": ["--url=$(URL)", "$(NOPE)"]}))
    assert local.env["URL"] == "pg://db:5432"
    assert local.argv[1:] == ("run", "--url=pg://db:5432", "$(NOPE)")


def test_mount_paths_are_rewritten_to_local_directories_in_argv_and_env() -> None:
    mounts = [
        {"name": "config", "mountPath": "/etc/graphsync"},
        {"name": "config", "mountPath": "/etc/graphsync/extra/"},
        {"name": "scratch", "mountPath": "/data"},
    ]
    volumes = [{"name": "config", "configMap": {"name": "pipeline"}}, {"name": "scratch", "emptyDir": {}}]
    container = {
        "volumeMounts": mounts,
        "args": ["-f", "/etc/graphsync/pipeline.yaml", "--extra=/etc/graphsync/extra", "/database", "/mnt/data"],
        "env": [{"name": "STATE", "value": "/data/state:/data"}, {"name": "DIR", "value": "$(STATE)/x"}],
        "workingDir": "/data",
    }
    local = make(pod(container, volumes=volumes), config_maps={"pipeline": {"pipeline.yaml": "name: shop\n"}})
    config, scratch = ROOT / "volumes" / "config", ROOT / "volumes" / "scratch"
    assert local.argv[2:] == ("-f", f"{config}/pipeline.yaml", f"--extra={config}", "/database", "/mnt/data")
    assert local.env["STATE"] == f"{scratch}/state:{scratch}"
    assert local.env["DIR"] == f"{scratch}/state:{scratch}/x"  # expanded once, not rewritten twice
    assert local.files == {config / "pipeline.yaml": "name: shop\n"}
    assert scratch in local.dirs
    assert local.cwd == scratch
    assert local.mounts["/etc/graphsync/extra"] == config


def test_sub_path_mounts_a_file_or_a_directory_inside_the_volume() -> None:
    mounts = [
        {"name": "config", "mountPath": "/etc/app.yaml", "subPath": "app.yaml"},
        {"name": "scratch", "mountPath": "/var/cache", "subPath": "cache"},
    ]
    volumes = [{"name": "config", "configMap": {"name": "app"}}, {"name": "scratch", "emptyDir": {}}]
    container = {"volumeMounts": mounts, "args": ["--config=/etc/app.yaml", "--cache=/var/cache/x"]}
    local = make(pod(container, volumes=volumes), config_maps={"app": {"app.yaml": "a: 1"}})
    assert local.argv[2:] == (f"--config={ROOT}/volumes/config/app.yaml", f"--cache={ROOT}/volumes/scratch/cache/x")
    assert ROOT / "volumes/scratch/cache" in local.dirs
    bad = [{"name": "scratch", "mountPath": "/x", "subPath": "../escape"}]
    with pytest.raises(ValueError, match="must be relative"):
        make(pod({"volumeMounts": bad}, volumes=volumes))


def test_config_map_and_secret_items_choose_keys_and_paths() -> None:
    volumes: list[dict[str, Any]] = [
        {"name": "cfg", "configMap": {"name": "app", "items": [{"key": "a", "path": "sub/a.txt"}]}},
        {"name": "creds", "secret": {"secretName": "pg", "items": [{"key": "password", "path": "pw"}]}},
        {"name": "maybe", "configMap": {"name": "absent", "optional": True}},
    ]
    mounts = [{"name": v["name"], "mountPath": f"/m/{v['name']}"} for v in volumes]
    local = make(
        pod({"volumeMounts": mounts}, volumes=volumes),
        config_maps={"app": {"a": "A", "b": "B"}},
        secrets={"pg": {"password": "pw!", "user": "app"}},
    )
    assert local.files == {ROOT / "volumes/cfg/sub/a.txt": "A", ROOT / "volumes/creds/pw": "pw!"}
    assert ROOT / "volumes/maybe" in local.dirs
    volumes[0]["configMap"]["items"] = [{"key": "zzz", "path": "z"}]
    with pytest.raises(ValueError, match="volume cfg: key 'zzz' not in configMap 'app'"):
        make(pod({"volumeMounts": mounts}, volumes=volumes), config_maps={"app": {}}, secrets={"pg": {"password": ""}})


def test_projected_service_account_volume_and_kubeconfig() -> None:
    # What the ServiceAccount admission plugin injects into every pod.
    access = {
        "name": "kube-api-access-x",
        "projected": {
            "sources": [
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3607}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ]
        },
    }
    mounts = [{"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]
    local = make(
        pod({"volumeMounts": mounts}, volumes=[access]),
        token="tok-1",
        config_maps={"kube-root-ca.crt": {"ca.crt": "C"}},
    )
    base = ROOT / "volumes/kube-api-access-x"
    assert local.kubeconfig == ROOT / "kubeconfig"
    assert local.env["KUBECONFIG"] == str(ROOT / "kubeconfig")
    config = json.loads(local.files[ROOT / "kubeconfig"])
    assert config["clusters"][0]["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority": "/pki/ca.crt",
    }
    assert config["users"][0]["user"] == {"token": "tok-1"}
    assert config["contexts"][0]["context"]["namespace"] == "sync"
    assert {p: t for p, t in local.files.items() if p != ROOT / "kubeconfig"} == {
        base / "token": "tok-1",
        base / "ca.crt": "C",
        base / "namespace": "sync",
    }
    opted_out = make(pod({}, automountServiceAccountToken=False), token="tok-1")
    assert opted_out.kubeconfig is None
    assert "KUBECONFIG" not in opted_out.env
    with pytest.raises(ValueError, match="serviceAccountToken is projected but no token"):
        make(pod({"volumeMounts": mounts}, volumes=[access]), config_maps={"kube-root-ca.crt": {"ca.crt": "C"}})


def test_declared_ports_are_remapped_in_env_and_args() -> None:
    container = {
        "ports": [{"containerPort": 8080}, {"containerPort": 9090, "name": "metrics"}],
        "env": [
            {"name": "PORT", "value": "8080"},
            {"name": "OTHER", "value": "8081"},
            {"name": "ADDR", "value": ":8080"},
        ],
        "args": ["--metrics-port=9090", "--port", "$(PORT)", "8080"],
    }
    local = make(pod(container), local_ports={8080: 41000, 9090: 41001, 7000: 1})
    assert local.ports == {8080: 41000, 9090: 41001}
    assert local.env["PORT"] == "41000"
    assert local.env["OTHER"] == "8081"
    assert local.env["ADDR"] == ":8080"  # only whole values are ports
    assert local.argv[2:] == ("--metrics-port=41001", "--port", "41000", "41000")
    assert make(pod(container)).ports == {8080: 8080, 9090: 9090}


def test_bare_executables_resolve_in_the_venv(tmp_path: Path) -> None:
    (tmp_path / "graphsync").touch()
    assert make(pod({}), python_bin=tmp_path).argv == (str(tmp_path / "graphsync"), "run")
    assert make(pod({"command": ["sh", "-c", "true"]}), python_bin=tmp_path).argv[0] == "sh"
    assert make(pod({"command": ["/bin/true"]}), python_bin=tmp_path).argv == ("/bin/true",)


def test_a_pod_without_a_runnable_container_is_refused() -> None:
    with pytest.raises(ValueError, match="pod sync/shop-7d9f has no containers"):
        make({"metadata": {"name": "shop-7d9f", "namespace": "sync"}, "spec": {"containers": []}})
    with pytest.raises(ValueError, match="container worker has no command"):
        make(pod({"command": None, "args": ["x"]}))
    with pytest.raises(ValueError, match=r"env\[L\]: only value"):
        make(pod({"env": [{"name": "L", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}))
