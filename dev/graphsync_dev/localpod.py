"""How a Pod's container runs as a local process: its spec translated by fixed rules, on plain data (no I/O).

`plan` turns a Pod (plain API JSON) into a `LocalPod` without touching anything, so every
rule below has a unit test on plain data; `kubelet.run_pod` fetches what the plan needs
with kubectl, writes its files and starts the process.

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

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
_VAR = re.compile(r"\$(?:(\$)|\(([^)]*)\))")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_META_KEY = re.compile(r"metadata\.(labels|annotations)\['([^']*)'\]")


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
