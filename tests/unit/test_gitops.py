"""The Argo CD health check, run in a real Lua 5.1, on objects captured from the e2e run and on edge cases;
the argocd-cm snippet is current with the Lua it is generated from."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from graphsync_dev.commands import gitops
from tests.gitops import EXPECTED, FIXTURES, HEALTH_LUA, argocd_health

GITOPS = HEALTH_LUA.parents[1]


@pytest.mark.parametrize("label", sorted(EXPECTED))
def test_captured_objects_get_the_health_they_had_live(label: str) -> None:
    found = json.loads((FIXTURES / f"{label}.json").read_text())
    status, message, _ = EXPECTED[label]
    judged = argocd_health(found)
    assert judged[0] == status
    assert message in judged[1]


def test_a_degraded_pipeline_carries_its_condition_message() -> None:
    found = json.loads((FIXTURES / "pipeline-degraded.json").read_text())
    degraded = next(c for c in found["status"]["conditions"] if c["type"] == "Degraded")
    assert argocd_health(found) == ("Degraded", degraded["message"])


def resource(generation: int = 1, **status: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"apiVersion": "graphsync.io/v1alpha1", "kind": "SyncPipeline"}
    found["metadata"] = {"name": "shop", "generation": generation}
    if status:
        found["status"] = {"observedGeneration": 1, **status}
    return found


def cond(kind: str, status: str, reason: str = "R", message: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def test_edge_cases() -> None:
    # Nothing written yet, or written for an older generation: not yet known.
    assert argocd_health(resource())[0] == "Progressing"
    assert argocd_health(resource(2, conditions=[cond("Ready", "True")])) == (
        "Progressing",
        "Waiting for the operator to act on generation 2",
    )
    # A failure outranks a pause; a condition without a message gives its reason.
    failing = [cond("Ready", "False", "SecretMissing"), cond("Stalled", "True", "SecretMissing")]
    assert argocd_health(resource(phase="Suspended", conditions=failing)) == ("Degraded", "SecretMissing")
    # Rolling out: progressing, as the Reconciling condition says.
    rolling = [cond("Ready", "False", "RollingOut", "moving"), cond("Reconciling", "True", "RollingOut", "moving")]
    assert argocd_health(resource(conditions=rolling)) == ("Progressing", "moving")
    # Ready=False with nothing failing: still progressing (waiting for workers), with Ready's message.
    assert argocd_health(resource(conditions=[cond("Ready", "False", "Waiting", "0/1 running")])) == (
        "Progressing",
        "0/1 running",
    )


def test_the_argocd_snippet_is_generated_from_the_lua() -> None:
    written = (GITOPS / gitops.SNIPPET).read_text()
    assert written == gitops.snippet(GITOPS), "run: graphsync-dev gitops --write manifests/gitops"
    assert yaml.safe_load(written) == gitops.argocd_cm(HEALTH_LUA.read_text())
    data = gitops.argocd_cm(HEALTH_LUA.read_text())["data"]
    assert sorted(data) == [
        "resource.customizations.health.graphsync.io_ConflictPolicy",
        "resource.customizations.health.graphsync.io_ReconciliationJob",
        "resource.customizations.health.graphsync.io_SyncPipeline",
    ]
    assert set(data.values()) == {HEALTH_LUA.read_text()}
