"""The kubectl install files made from the chart's rendering, and the samples (pure; no servers, no helm)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

import graphsync
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_dev.commands import manifests
from graphsync_operator.api.crds import all_crds
from graphsync_operator.api.specs import ReconciliationJobSpec, SyncPipelineSpec, valid_name
from graphsync_operator.build import children
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from graphsync_operator.controller.handlers import settings

SAMPLES = Path(__file__).parents[2] / "manifests" / "samples"

RENDERED = """---
# Source: graphsync/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: graphsync-operator
  namespace: graphsync-system
  labels:
    app.kubernetes.io/name: graphsync-operator
    app.kubernetes.io/managed-by: Helm
    helm.sh/chart: graphsync-0.1.0
---
# Source: graphsync/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: graphsync-operator
  namespace: graphsync-system
  labels: {app.kubernetes.io/name: graphsync-operator, helm.sh/chart: graphsync-0.1.0}
spec:
  selector:
    matchLabels: {app.kubernetes.io/name: graphsync-operator}
  template:
    metadata:
      labels: {app.kubernetes.io/name: graphsync-operator, app.kubernetes.io/managed-by: Helm}
    spec:
      containers: [{name: operator, image: "ghcr.io/graphsync/graphsync:0.1.0"}]
"""


def stream(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


def test_the_install_holds_the_namespace_the_crds_and_the_operator_without_helms_labels() -> None:
    made = manifests.files(RENDERED, all_crds())
    install = stream(made["install.yaml"])
    assert [(d["kind"], d["metadata"]["name"]) for d in install] == [
        ("Namespace", "graphsync-system"),
        ("CustomResourceDefinition", "conflictpolicies.graphsync.io"),
        ("CustomResourceDefinition", "reconciliationjobs.graphsync.io"),
        ("CustomResourceDefinition", "syncpipelines.graphsync.io"),
        ("ServiceAccount", "graphsync-operator"),
        ("Deployment", "graphsync-operator"),
    ]
    account, deployment = install[4], install[5]
    assert account["metadata"]["labels"] == {"app.kubernetes.io/name": "graphsync-operator"}
    assert deployment["metadata"]["labels"] == {"app.kubernetes.io/name": "graphsync-operator"}
    assert deployment["spec"]["template"]["metadata"]["labels"] == {"app.kubernetes.io/name": "graphsync-operator"}
    assert install[0]["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert made["install.yaml"].startswith(manifests.HEADER)


def test_the_kustomize_base_lists_every_file_it_holds() -> None:
    made = manifests.files(RENDERED, all_crds())
    [kustomization] = stream(made["base/kustomization.yaml"])
    assert kustomization["namespace"] == "graphsync-system"
    assert kustomization["resources"] == [
        "namespace.yaml",
        "crds/conflictpolicies.yaml",
        "crds/reconciliationjobs.yaml",
        "crds/syncpipelines.yaml",
        "operator.yaml",
    ]
    assert sorted(made) == sorted(
        ["install.yaml", "base/kustomization.yaml", *(f"base/{path}" for path in kustomization["resources"])]
    )
    # The base's CRDs are byte for byte the files in crds/.
    crds = Path(__file__).parents[2] / "crds"
    assert made["base/crds/syncpipelines.yaml"] == (crds / "syncpipelines.yaml").read_text()
    assert [d["kind"] for d in stream(made["base/operator.yaml"])] == ["ServiceAccount", "Deployment"]


def test_a_rendering_that_is_not_kubernetes_objects_is_refused_naming_the_document() -> None:
    with pytest.raises(ValueError, match="document 1 of the rendered chart is not a Kubernetes object"):
        manifests.documents("kind: A\nmetadata: {name: a}\n---\n- a list\n")


def test_stale_names_missing_differing_and_leftover_files(tmp_path: Path) -> None:
    wanted = {"install.yaml": "a\n", "base/kustomization.yaml": "b\n", "base/operator.yaml": "c\n"}
    (tmp_path / "base" / "old").mkdir(parents=True)
    (tmp_path / "install.yaml").write_text("a\n")
    (tmp_path / "base" / "operator.yaml").write_text("changed\n")
    (tmp_path / "base" / "old" / "gone.yaml").write_text("x\n")
    (tmp_path / "README.md").write_text("not generated\n")
    assert manifests.stale(tmp_path, wanted) == [
        "base/kustomization.yaml",
        "base/old/gone.yaml",
        "base/operator.yaml",
    ]


def samples() -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(SAMPLES.glob("*.yaml")):
        for doc in stream(path.read_text()):
            found.setdefault(doc["kind"], []).append(doc)
    return found


def test_there_is_a_sample_of_every_kind_and_of_every_way_of_syncing() -> None:
    found = samples()
    assert {kind: len(docs) for kind, docs in found.items()} == {
        "ConflictPolicy": 1,
        "ReconciliationJob": 1,
        "Secret": 1,
        "SyncPipeline": 5,
    }
    sources = sorted(next(iter(p["spec"]["source"])) for p in found["SyncPipeline"])
    assert sources == ["files", "neo4j", "neo4j", "postgres", "postgres"]
    assert [p["spec"]["mode"] for p in found["SyncPipeline"] if "conflictPolicyRef" in p["spec"]] == ["bidirectional"]


def test_the_operator_renders_every_sample_and_finds_what_it_references() -> None:
    """What the operator would decide for each sample: no InvalidSpec, no SecretMissing, no PolicyMissing."""
    found = samples()
    [secret] = found["Secret"]
    policies = {p["metadata"]["name"]: ConflictPolicySpec.model_validate(p["spec"]) for p in found["ConflictPolicy"]}
    pipelines = {}
    for body in found["SyncPipeline"]:
        name = body["metadata"]["name"]
        assert valid_name(name) is None
        spec = SyncPipelineSpec.model_validate(body["spec"])
        policy = policies[spec.conflict_policy_ref.name] if spec.conflict_policy_ref else None
        owner = Owner("SyncPipeline", name, "apps", "uid-1")
        built = children.pipeline(owner, spec, Defaults(image="ghcr.io/graphsync/graphsync:0.1.0"), policy)
        assert {m["kind"] for m in built.manifests} >= {"ConfigMap", "ServiceAccount", "Role", "Lease"}
        used = {(use.secret, use.key) for use in built.rendered.secrets}
        assert used, f"{name} reads no password: the Secret sample shows nothing"
        assert used <= {(secret["metadata"]["name"], key) for key in secret["stringData"]}, name
        pipelines[name] = spec
    for body in found["ReconciliationJob"]:
        job = ReconciliationJobSpec.model_validate(body["spec"])
        pipeline = pipelines[job.pipeline_ref.name]
        assert pipeline.mappings is not None
        job.job().check_against(pipeline.mappings)


def test_samples_leave_the_namespace_to_kubectl() -> None:
    # `kubectl apply -n NAMESPACE -f manifests/samples/` puts them wherever the user says.
    assert all("namespace" not in doc["metadata"] for docs in samples().values() for doc in docs)


def test_the_chart_installs_this_version_of_graphsync_and_the_image_the_operator_expects() -> None:
    root = Path(__file__).parents[2]
    chart = yaml.safe_load((root / "charts" / "graphsync" / "Chart.yaml").read_text())
    values = yaml.safe_load((root / "charts" / "graphsync" / "values.yaml").read_text())
    assert chart["version"] == chart["appVersion"] == graphsync.__version__
    image = f"{values['image']['repository']}:{chart['appVersion']}"
    # Workers default to the operator's image; without the chart, the operator's own default is the same.
    assert values["workers"]["image"] == ""
    assert settings.defaults().image == image
    assert values["replicas"] == 1


def test_generated_files_hold_no_yaml_anchors() -> None:
    """Anchors and aliases (`&id001`, `*id001`) are lost on some tools (kustomize patches, diffs) and on people."""
    root = Path(__file__).parents[2]
    generated = [
        *root.glob("crds/*.yaml"),
        *root.glob("manifests/**/*.yaml"),
    ]
    assert len(generated) > 6
    aliased = [
        str(path.relative_to(root))
        for path in generated
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(path.read_text()))
    ]
    assert not aliased
    # What writes them writes none.
    assert "*id" not in manifests.dump([{"a": (shared_list := ["x"]), "b": shared_list}])
