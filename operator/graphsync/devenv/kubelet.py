"""A kubelet stand-in: run one Pod's container as a local process, exactly from its spec.

kwok reports Pods Running without running anything, yet end-to-end tests and the demo need
the workers the operator describes to really work. `plan` turns a Pod (plain API JSON) into
a `LocalPod` without touching anything, so every rule below has a unit test on plain data;
`run_pod` fetches what the plan needs with kubectl, writes its files and starts the process.

A local process is not a container; where they differ the spec is translated by fixed rules:

- Paths. A volumeMount's mountPath (say /etc/graphsync) cannot exist here: we may not be
  allowed to create it, and every pod shares this one filesystem. Each volume is a directory
  `root/volumes/<volume>`, and every occurrence of a mountPath, as a whole path prefix, in
  command, args and env values is replaced by its local directory (or the subPath in it).
  File contents are never rewritten.
- Ports. Pods share loopback here instead of owning a network namespace, so two pods
  declaring port 8080 would collide. Each declared containerPort gets a free local port;
  an env value or argv element equal to the port number, or an argv element ending in
  `=<port>`, is rewritten to it, and `LocalPod.ports` records the map for probes.
- API access. In-cluster config needs KUBERNETES_SERVICE_HOST and a fixed token path, so
  instead KUBECONFIG points at a kubeconfig with the API server, the CA and a token minted
  for the pod's ServiceAccount: the process has exactly that account's RBAC rights.
- Environment. Only what the spec declares, plus what a container runtime always sets
  (PATH with `python_bin` first, HOME, LANG, HOSTNAME): none of the caller's environment.

Not supported: the image (entrypoint, files), init and sidecar containers, probes, restarts,
resources and resourceFieldRef, securityContext, file modes, token audiences, volume types
other than configMap, secret, emptyDir, projected and downwardAPI.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphsync.devenv import process
from graphsync.devenv.kube import kubectl
from graphsync.devenv.process import ProcessSpec, SubstrateError

LOOPBACK = "127.0.0.1"
_VAR = re.compile(r"\$(?:(\$)|\(([^)]*)\))")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_META_KEY = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")
# process.start merges the caller's environment into the child's; this shim replaces it
# with exactly the pod's before exec, keeping the pid (and process.py's bookkeeping).
_EXEC = (
    "import json, os, sys\n"
    "env = json.load(open(sys.argv[1]))\n"
    "try:\n    os.execvpe(sys.argv[2], sys.argv[2:], env)\n"
    "except OSError as exc:\n    print(f'cannot execute {sys.argv[2]}: {exc}', flush=True)\n    os._exit(127)\n"
)


@dataclass(frozen=True)
class LocalPod:
    """Everything needed to run a pod's container here; paths are all under `root`."""

    namespace: str
    name: str
    container: str
    argv: tuple[str, ...]
    env: Mapping[str, str]
    files: Mapping[Path, str]
    dirs: tuple[Path, ...]
    mounts: Mapping[str, Path]  # mountPath -> local path
    ports: Mapping[int, int]  # containerPort -> local port
    cwd: Path
    kubeconfig: Path | None


def expand(text: str, variables: Mapping[str, str]) -> str:
    """The kubelet's `$(VAR)` expansion: `$$` escapes a dollar, unknown references stay as written."""

    def one(match: re.Match[str]) -> str:
        return "$" if match.group(1) else variables.get(match.group(2), match.group(0))

    return _VAR.sub(one, text)


class _Sources:
    """The Secrets and ConfigMaps a pod may read; errors name who asked (`where`) for what."""

    def __init__(self, ident: str, secrets: Mapping[str, Mapping[str, str]], maps: Mapping[str, Mapping[str, str]]):
        self.ident, self.kinds = ident, {"secret": secrets, "configMap": maps}

    def all(self, kind: str, name: str, optional: bool, where: str) -> Mapping[str, str]:
        data = self.kinds[kind].get(name)
        if data is None and not optional:
            raise ValueError(f"{where}: {kind} {name!r} not found")
        return data or {}

    def key(self, kind: str, ref: Mapping[str, Any], where: str) -> str | None:
        optional = ref.get("optional", False)
        data = self.all(kind, ref["name"], optional, where)
        if ref["key"] not in data and not optional:
            raise ValueError(f"{where}: key {ref['key']!r} not in {kind} {ref['name']!r}")
        return data.get(ref["key"])


def _field(pod: Mapping[str, Any], path: str, where: str) -> str:
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    if match := _META_KEY.fullmatch(path):
        return str(meta.get(match[1], {}).get(match[2], ""))
    if path in ("metadata.labels", "metadata.annotations"):  # the downward API's file format
        return "\n".join(f"{k}={json.dumps(v)}" for k, v in sorted(meta.get(path[9:], {}).items()))
    values = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName") or "default",
        **dict.fromkeys(("status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs"), LOOPBACK),
    }
    if path not in values:
        raise ValueError(f"{where}: fieldRef {path!r} is not supported")
    return str(values[path] or "")


def _relative(path: str, where: str) -> str:
    if path.startswith("/") or ".." in Path(path).parts:
        raise ValueError(f"{where}: path {path!r} must be relative and stay inside the volume")
    return path


def _volume(
    vol: Mapping[str, Any], base: Path, src: _Sources, pod: Mapping[str, Any], token: str | None
) -> dict[Path, str]:
    where = f"{src.ident}: volume {vol['name']}"
    if "emptyDir" in vol:
        return {}
    sources = vol["projected"].get("sources", []) if "projected" in vol else [vol]
    files: dict[Path, str] = {}
    for source in sources:
        if "configMap" in source or "secret" in source:
            kind = "configMap" if "configMap" in source else "secret"
            ref = source[kind]
            name, optional = ref.get("name") or ref.get("secretName"), ref.get("optional", False)
            data = src.all(kind, name, optional, where)
            for item in ref.get("items") or [{"key": key, "path": key} for key in data]:
                value = src.key(kind, {"name": name, "optional": optional, "key": item["key"]}, where)
                if value is not None:
                    files[base / _relative(item["path"], where)] = value
        elif "downwardAPI" in source:
            for item in source["downwardAPI"].get("items", []):
                files[base / _relative(item["path"], where)] = _field(pod, item["fieldRef"]["fieldPath"], where)
        elif "serviceAccountToken" in source:
            if token is None:
                raise ValueError(f"{where}: a serviceAccountToken is projected but no token was minted")
            files[base / _relative(source["serviceAccountToken"]["path"], where)] = token
        else:
            raise ValueError(f"{where}: only configMap, secret, emptyDir, projected and downwardAPI work")
    return files


def _mount(
    ctr: Mapping[str, Any], pod: Mapping[str, Any], src: _Sources, token: str | None, root: Path
) -> tuple[dict[Path, str], list[Path], dict[str, Path]]:
    """The files and directories the container's volumes need, and each mountPath's local path."""
    volumes = {v["name"]: v for v in pod.get("spec", {}).get("volumes", [])}
    files: dict[Path, str] = {}
    dirs, mounts = [root / "home"], {}
    for mount in ctr.get("volumeMounts", []):
        where = f"{src.ident}: volumeMount {mount['mountPath']}"
        if mount["name"] not in volumes:
            raise ValueError(f"{where} names no volume {mount['name']!r}")
        base = root / "volumes" / mount["name"]
        if base not in dirs:
            files |= _volume(volumes[mount["name"]], base, src, pod, token)
            dirs.append(base)
        local = base / _relative(mount["subPath"], where) if mount.get("subPath") else base
        if local not in files and local not in dirs:
            dirs.append(local)  # the kubelet creates a missing subPath as a directory
        mounts[mount["mountPath"].rstrip("/")] = local
    mounts.pop("", None)  # a mount over "/" would rewrite every path
    return files, dirs, mounts


def _localizer(mounts: Mapping[str, Path], ports: Mapping[int, int]) -> Callable[[str], str]:
    """Rewrites mountPaths (whole path prefixes, longest first) and declared port numbers to their local values."""
    alternatives = "|".join(re.escape(m) for m in sorted(mounts, key=len, reverse=True))
    mount_re = re.compile(rf"(?<![\w.\-/])({alternatives})(?![\w.\-])") if mounts else None

    def local(text: str) -> str:
        if mount_re is not None:
            text = mount_re.sub(lambda m: str(mounts[m.group(1)]), text)
        if text.isdigit() and int(text) in ports:
            return str(ports[int(text)])
        head, sep, tail = text.rpartition("=")
        return f"{head}={ports[int(tail)]}" if sep and tail.isdigit() and int(tail) in ports else text

    return local


def _container_env(
    ctr: Mapping[str, Any], pod: Mapping[str, Any], src: _Sources, local: Callable[[str], str]
) -> dict[str, str]:
    # Every string the spec supplies is localized exactly once, before $(VAR) expansion, so a
    # value expanded into another is never rewritten twice.
    declared: dict[str, str] = {}
    for source in ctr.get("envFrom", []):
        kind, prefix = "configMap" if "configMapRef" in source else "secret", source.get("prefix", "")
        ref = source[f"{kind}Ref"]
        for key, text in src.all(kind, ref["name"], ref.get("optional", False), f"{src.ident}: envFrom").items():
            if _ENV_NAME.fullmatch(prefix + key):  # the kubelet skips invalid names too
                declared[prefix + key] = local(text)
    for item in ctr.get("env", []):
        where, value_from = f"{src.ident}: env[{item['name']}]", item.get("valueFrom")
        if value_from is None:
            declared[item["name"]] = expand(local(item.get("value", "")), declared)
            continue
        value: str | None
        if "secretKeyRef" in value_from:
            value = src.key("secret", value_from["secretKeyRef"], where)
        elif "configMapKeyRef" in value_from:
            value = src.key("configMap", value_from["configMapKeyRef"], where)
        elif "fieldRef" in value_from:
            value = _field(pod, value_from["fieldRef"]["fieldPath"], where)
        else:
            raise ValueError(f"{where}: only value, secretKeyRef, configMapKeyRef and fieldRef work")
        if value is not None:  # an optional reference to nothing leaves the variable unset
            declared[item["name"]] = local(value)
    return declared


def plan(
    pod: Mapping[str, Any],
    *,
    secrets: Mapping[str, Mapping[str, str]],
    config_maps: Mapping[str, Mapping[str, str]],
    token: str | None,
    api_server: str,
    ca_file: str,
    root: Path,
    python_bin: Path,
    local_ports: Mapping[int, int] | None = None,
) -> LocalPod:
    """How to run the pod's first container here. `local_ports` maps containerPorts (unmapped ones keep theirs)."""
    meta, spec = pod.get("metadata", {}), pod.get("spec", {})
    namespace, name = str(meta.get("namespace", "default")), str(meta.get("name"))
    src = _Sources(f"pod {namespace}/{name}", secrets, config_maps)
    if not spec.get("containers"):
        raise ValueError(f"{src.ident} has no containers")
    ctr = spec["containers"][0]
    ports = {int(p["containerPort"]): int(p["containerPort"]) for p in ctr.get("ports", [])}
    ports |= {port: mapped for port, mapped in (local_ports or {}).items() if port in ports}
    files, dirs, mounts = _mount(ctr, pod, src, token, root)
    local = _localizer(mounts, ports)
    declared = _container_env(ctr, pod, src, local)

    command = [expand(local(part), declared) for part in ctr.get("command") or []]
    if not command:
        raise ValueError(f"{src.ident}: container {ctr['name']} has no command; the image's entrypoint cannot run here")
    if "/" not in command[0] and (python_bin / command[0]).exists():
        command[0] = str(python_bin / command[0])
    argv = (*command, *(expand(local(part), declared) for part in ctr.get("args") or []))

    env = {"PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin", "HOME": str(root / "home"), "LANG": "C.UTF-8"}
    env["HOSTNAME"] = str(spec.get("hostname") or name)
    kubeconfig = None
    if token is not None and spec.get("automountServiceAccountToken") is not False:
        kubeconfig = root / "kubeconfig"
        files[kubeconfig] = _kubeconfig(api_server, ca_file, token, namespace)
        env["KUBECONFIG"] = str(kubeconfig)
    working = local(ctr.get("workingDir", ""))  # only a directory inside a volume exists here
    cwd = Path(working) if working.startswith(str(root)) else root / "home"
    container = str(ctr["name"])
    return LocalPod(
        namespace, name, container, argv, env | declared, files, tuple(dirs), mounts, ports, cwd, kubeconfig
    )


def _kubeconfig(server: str, ca_file: str, token: str, namespace: str) -> str:
    cluster, context = {"server": server, "certificate-authority": ca_file}, {"cluster": "c", "user": "pod"}
    config = {"clusters": [{"name": "c", "cluster": cluster}], "users": [{"name": "pod", "user": {"token": token}}]}
    config["contexts"] = [{"name": "pod", "context": {**context, "namespace": namespace}}]
    return json.dumps({"apiVersion": "v1", "kind": "Config", **config, "current-context": "pod"}, indent=2)


@dataclass(frozen=True)
class RunningPod:
    """A pod's process; exit codes read like a container's (128 + signal when killed)."""

    local: LocalPod
    log_path: Path
    child: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def ports(self) -> Mapping[int, int]:
        return self.local.ports

    def alive(self) -> bool:
        return self.child.poll() is None

    def stop(self) -> int:
        """SIGTERM, then SIGKILL after 15 s, like a pod's termination grace period."""
        process.stop(self.pid)
        return self.wait(5)

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)

    def wait(self, timeout: float) -> int:
        """The exit code; raises subprocess.TimeoutExpired if it still runs after `timeout` seconds."""
        code = self.child.wait(timeout)
        return 128 - code if code < 0 else code


def _get(env: Mapping[str, str], *args: str) -> Any:
    result = kubectl(env, *args)
    if result.returncode != 0:
        raise SubstrateError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return json.loads(result.stdout) if "json" in args else result.stdout


def _contents(items: list[dict[str, Any]], *, plain: str, encoded: str) -> dict[str, dict[str, str]]:
    # Base64 values may be bytes that are not UTF-8: surrogateescape carries them unchanged into the files.
    def decoded(item: Mapping[str, Any]) -> dict[str, str]:
        binary = {k: base64.b64decode(v).decode(errors="surrogateescape") for k, v in (item.get(encoded) or {}).items()}
        return {**(item.get(plain) or {}), **binary}

    return {item["metadata"]["name"]: decoded(item) for item in items}


def run_pod(
    env: Mapping[str, str], namespace: str, pod_name: str, root: Path, *, python_bin: Path | None = None
) -> RunningPod:
    """Start the pod's container here; its files go to `root/<pod>/`, its output to `root/<pod>.log`."""
    pod = _get(env, "get", "pod", pod_name, "-n", namespace, "-o", "json")
    spec = pod.get("spec", {})
    secrets = _contents(_get(env, "get", "secrets", "-n", namespace, "-o", "json")["items"], plain="", encoded="data")
    maps = _get(env, "get", "configmaps", "-n", namespace, "-o", "json")["items"]
    config_maps = _contents(maps, plain="data", encoded="binaryData")
    projected = [s for v in spec.get("volumes", []) for s in v.get("projected", {}).get("sources", [])]
    token = None
    if spec.get("automountServiceAccountToken") is not False or any("serviceAccountToken" in s for s in projected):
        account, uid = spec.get("serviceAccountName") or "default", pod["metadata"]["uid"]
        bound = ["--bound-object-kind=Pod", f"--bound-object-name={pod_name}", f"--bound-object-uid={uid}"]
        token = _get(env, "create", "token", account, "-n", namespace, "--duration=1h", *bound).strip()
    cluster = _get(env, "config", "view", "--raw", "--minify", "-o", "json")["clusters"][0]["cluster"]
    pod_root = root / pod_name
    pod_root.mkdir(parents=True, exist_ok=True)
    ca_file = cluster.get("certificate-authority") or str(pod_root / "ca.crt")
    if "certificate-authority-data" in cluster:
        (pod_root / "ca.crt").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    declared = [int(p["containerPort"]) for c in spec.get("containers", [])[:1] for p in c.get("ports", [])]
    local = plan(
        pod,
        secrets=secrets,
        config_maps=config_maps,
        token=token,
        api_server=cluster["server"],
        ca_file=ca_file,
        root=pod_root,
        python_bin=python_bin or Path(sys.executable).parent,
        local_ports={port: process.free_port() for port in declared},
    )
    for folder in local.dirs:
        folder.mkdir(parents=True, exist_ok=True)
    env_file = pod_root / "env.json"
    for path, text in {**local.files, env_file: json.dumps(dict(local.env))}.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, errors="surrogateescape")
        path.chmod(0o600)
    log_path = root / f"{pod_name}.log"
    argv = [sys.executable, "-I", "-S", "-c", _EXEC, str(env_file), *local.argv]
    child = process.start(ProcessSpec(name=f"pod {namespace}/{pod_name}", argv=argv, log_path=log_path, cwd=local.cwd))
    return RunningPod(local, log_path, child)


def pods(env: Mapping[str, str], namespace: str, selector: str) -> list[str]:
    """Names of the Running (and not terminating) pods matching a label selector."""
    items = _get(env, "get", "pods", "-n", namespace, "-l", selector, "-o", "json")["items"]
    running = (p for p in items if p.get("status", {}).get("phase") == "Running")
    return sorted(p["metadata"]["name"] for p in running if not p["metadata"].get("deletionTimestamp"))


def wait_pods(
    env: Mapping[str, str], namespace: str, selector: str, *, count: int = 1, timeout: float = 60
) -> list[str]:
    """Poll `pods` until at least `count` run; SubstrateError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while len(names := pods(env, namespace, selector)) < count:
        if time.monotonic() > deadline:
            raise SubstrateError(f"{count} Running pod(s) for {selector!r} in {namespace} not seen in {timeout:.0f}s")
        time.sleep(0.5)
    return names
