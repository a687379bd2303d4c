"""Probe (branch issue-6-crds): the structural schemas built from the engine's models are accepted by the
real API server and validate objects, naming the field."""

from __future__ import annotations

import json

import pytest

from graphsync.devenv.kube import kubectl
from graphsync.devenv.service import Service
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.crds import crd

pytestmark = pytest.mark.e2e


def test_structural_schemas_from_the_models_are_accepted_and_validate(kube: Service, namespace: str) -> None:
    for made in (
        crd("SyncPipeline", "syncpipelines", ["sp"], PipelineSpec),
        crd("ConflictPolicy", "conflictpolicies", ["cp"], ConflictPolicySpec),
    ):
        applied = kubectl(kube.env, "apply", "-f", "-", input=json.dumps(made))
        assert applied.returncode == 0, applied.stderr
        name = made["metadata"]["name"]
        waited = kubectl(kube.env, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s")
        assert waited.returncode == 0, waited.stderr
    bad = {
        "apiVersion": "graphsync.io/v1alpha1",
        "kind": "ConflictPolicy",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"strategy": "sometimes", "clockSkewMs": -1},
    }
    refused = kubectl(kube.env, "create", "-f", "-", input=json.dumps(bad))
    assert refused.returncode != 0
    assert "spec.strategy" in refused.stderr, refused.stderr
    assert "spec.clockSkewMs" in refused.stderr, refused.stderr
    good = {**bad, "metadata": {"name": "good", "namespace": namespace}, "spec": {"strategy": "manual"}}
    created = kubectl(kube.env, "create", "-f", "-", input=json.dumps(good))
    assert created.returncode == 0, created.stderr
