"""The GitOps judges, for the tests: Argo CD's health check run in a real Lua, and Flux's kstatus library.

Argo CD runs health checks in gopher-lua, a Lua 5.1; lupa's Lua 5.1 runs the same
script here. kstatus is the real library in a small Go program (hack/kstatus).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from lupa import lua51

from graphsync_dev import gotools

HEALTH_LUA = Path(__file__).parents[1] / "manifests" / "gitops" / "argocd" / "health.lua"
FIXTURES = Path(__file__).parent / "unit" / "gitops_objects"
# How each object the e2e run captures (and the unit test keeps) must be judged:
# (Argo CD status, a part of its message, kstatus).
EXPECTED = {
    "pipeline-progressing": ("Progressing", "", "InProgress"),
    "pipeline-ready": ("Healthy", "worker(s) running", "Current"),
    "pipeline-degraded": ("Degraded", "last reported at", "Failed"),
    "pipeline-new-generation": ("Progressing", "Waiting for the operator to act on generation", "InProgress"),
    "pipeline-suspended": ("Suspended", "spec.suspend is true", "Current"),
    "pipeline-invalid": ("Degraded", "mode incremental needs source.postgres.watermarkColumn", "Failed"),
    "policy-ready": ("Healthy", "used by", "Current"),
    "job-ready": ("Healthy", "runs on its schedule", "Current"),
}


def argocd_health(resource: dict[str, Any]) -> tuple[str, str]:
    """(status, message) as Argo CD's Lua health check computes them for `resource`."""
    lua = lua51.LuaRuntime()
    lua.globals().obj = lua.table_from(resource, recursive=True)
    result = lua.execute(HEALTH_LUA.read_text())
    return str(result["status"]), str(result["message"])


def kstatus(resources: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(status, message) of each resource, as Flux's kstatus computes them (Current, InProgress, Failed, ...)."""
    document = {"apiVersion": "v1", "kind": "List", "items": resources}
    done = subprocess.run(
        [str(gotools.ensure("kstatus"))], input=json.dumps(document), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return [(verdict["status"], verdict["message"]) for verdict in json.loads(done.stdout)]
