"""A kubelet stand-in: run one Pod's container as a local process, exactly from its spec.

kwok reports Pods Running without running anything, yet end-to-end tests and the demo need
the workers the operator describes to really work. `localpod.plan` turns a Pod (plain API JSON)
into a `LocalPod` without touching anything, so every rule has a unit test on plain data;
`run_pod` fetches what the plan needs with kubectl, writes its files and starts the process.

How the spec is translated where a local process differs from a container, and what is
not supported, is written down in `graphsync_dev.localpod`.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graphsync_dev import process
from graphsync_dev.kube import kubectl
from graphsync_dev.localpod import LocalPod, plan
from graphsync_dev.process import ProcessSpec, SubstrateError

# process.start merges the caller's environment into the child's; this shim replaces it
# with exactly the pod's before exec, keeping the pid (and process.py's bookkeeping).
_EXEC = (
    "import json, os, sys\n"
    "env = json.load(open(sys.argv[1]))\n"
    "try:\n    os.execvpe(sys.argv[2], sys.argv[2:], env)\n"
    "except OSError as exc:\n    print(f'cannot execute {sys.argv[2]}: {exc}', flush=True)\n    os._exit(127)\n"
)


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
