"""The operator's API models and the CRDs generated from them (pure; no servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from graphsync.spec.conflicts import ConflictPolicySpec, Strategy
from graphsync_operator.api import crdfiles
from graphsync_operator.api.crds import all_crds, plain_yaml
from graphsync_operator.api.specs import ReconciliationJobSpec, SyncPipelineSpec, check_cron, valid_name
from graphsync_operator.api.structural import structural
from graphsync_operator.build import names
from graphsync_operator.controller.handlers.pipelines import scheduled_before
from tests.resources import shop_spec

CRDS = Path(__file__).parents[2] / "crds"
CHART_CRDS = Path(__file__).parents[2] / "charts" / "graphsync" / "templates" / "crds"


def test_the_crds_in_the_repository_are_the_ones_the_models_generate() -> None:
    assert crdfiles.stale(CRDS) == [], "run: graphsync-operator crds --write crds/"


def test_the_charts_crds_are_the_ones_the_models_generate() -> None:
    assert crdfiles.chart_stale(CHART_CRDS) == [], f"run: {crdfiles.CHART_COMMAND}"
    assert sorted(p.name for p in CHART_CRDS.iterdir()) == sorted(all_crds())
    # Helm's own crds/ folder would install the same CRDs before the templates, which then fail as taken.
    assert not (CHART_CRDS.parents[1] / "crds").exists(), "the chart's CRDs are templates/crds/ (crds.enabled)"


def test_a_charts_crd_template_is_the_crd_behind_a_switch_and_never_a_template_inside() -> None:
    manifest = all_crds()["syncpipelines.yaml"]
    template = crdfiles.chart_template(manifest)
    lines = template.splitlines()
    assert lines[1] == "{{- if .Values.crds.enabled }}"
    assert lines[-1] == "{{- end }}"
    assert "  {{- if .Values.crds.keep }}" in lines
    assert "    helm.sh/resource-policy: keep" in lines
    # Everything but the switch, the labels and the annotation is the plain CRD, line for line.
    plain = plain_yaml({"spec": manifest["spec"]})
    assert plain in template
    # A description holding `{{` would be a template action to Helm: it is written to print as it is.
    described = {**manifest, "spec": {"description": "a {{ .Values.x }} here"}}
    assert 'a {{ "{{" }} .Values.x }} here' in crdfiles.chart_template(described)


def test_the_crds_are_structural() -> None:
    def walk(node: dict[str, object], path: str) -> None:
        for banned in ("$ref", "anyOf", "oneOf", "allOf", "const", "patternProperties", "title", "$defs"):
            assert banned not in node, f"{path}: {banned}"
        if "properties" in node:
            assert node.get("type") == "object", path
            assert "additionalProperties" not in node, path
            for name, child in node["properties"].items():  # type: ignore[attr-defined]
                walk(child, f"{path}.{name}")
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], f"{path}.{key}")  # type: ignore[arg-type]

    for name, crd in all_crds().items():
        walk(crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"], name)


def undescribed(node: dict[str, Any], path: str) -> list[str]:
    """The fields under `node` of an OpenAPI schema that have no description."""
    found = []
    for name, field in (node.get("properties") or {}).items():
        where = f"{path}.{name}"
        if "description" not in field:
            found.append(where)
        found += undescribed(field, where)
        if isinstance(field.get("items"), dict):
            found += undescribed(field["items"], f"{where}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += undescribed(node["additionalProperties"], f"{path}{{}}")
    return found


def test_every_spec_field_has_a_description_for_kubectl_explain() -> None:
    for file, crd in all_crds().items():
        schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
        assert undescribed(schema, "spec") == [], file


def test_structural_schema_conversion() -> None:
    schema = {
        "$defs": {"Inner": {"title": "Inner", "type": "object", "properties": {"n": {"type": "integer"}}}},
        "title": "Outer",
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "inner": {"anyOf": [{"$ref": "#/$defs/Inner"}, {"type": "null"}], "default": None},
            "port": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
            "kind": {"const": "x"},
            "size": {"type": "number", "exclusiveMinimum": 0},
            "labels": {"type": "object", "patternProperties": {"^a$": {"type": "string"}}},
        },
    }
    assert structural(schema) == {
        "type": "object",
        "properties": {
            "inner": {"type": "object", "properties": {"n": {"type": "integer"}}, "nullable": True},
            "port": {"x-kubernetes-int-or-string": True},
            "kind": {"enum": ["x"]},
            "size": {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }


def test_printer_columns_of_a_pipeline() -> None:
    columns = all_crds()["syncpipelines.yaml"]["spec"]["versions"][0]["additionalPrinterColumns"]
    shown = [column["name"] for column in columns if not column.get("priority")]
    assert shown == ["Source", "Target", "Mode", "Ready", "Synced", "Lag", "Age"]


def test_a_pipeline_spec_becomes_the_engine_spec_named_after_the_resource() -> None:
    spec = SyncPipelineSpec.model_validate({**shop_spec(), "workers": {"replicas": 3}, "suspend": True})
    engine = spec.engine_spec("shop-a", "team-1")
    assert engine.name == "shop-a"
    assert engine.identity == "team-1.shop-a"
    assert engine.batch_size == 200
    dumped = engine.model_dump(by_alias=True, exclude_none=True)
    assert "workers" not in dumped
    assert "suspend" not in dumped


def test_a_referenced_policy_is_inlined() -> None:
    spec = SyncPipelineSpec.model_validate(
        {
            "mode": "bidirectional",
            "source": {"neo4j": {"uri": "bolt://a:7687", "password": {"env": "A"}}},
            "target": {"falkordb": {"url": "redis://b:6379", "graph": "g"}},
            "mappings": {"nodes": [{"name": "person", "labels": ["Person"], "key": "id"}]},
            "conflictPolicyRef": {"name": "careful"},
        }
    )
    engine = spec.engine_spec("p", "default", ConflictPolicySpec(strategy=Strategy.MANUAL))
    assert engine.conflict_policy == ConflictPolicySpec(strategy=Strategy.MANUAL)
    assert engine.conflict_policy_ref is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"mode": "snapshot", "transport": None}, "schedule: mode snapshot runs once per schedule"),
        ({"schedule": "0 3 * * *"}, "schedule: mode snapshotThenStream runs continuously"),
        ({"mode": "snapshot", "transport": None, "schedule": "61 * * * *"}, "schedule: minute '61' is outside 0-59"),
        ({"workers": {"replicas": 1, "resources": {"limits": {"memory": "lots"}}}}, "workers.resources.limits.memory"),
        (
            {
                "mode": "incremental",
                "transport": None,
                "source": {"postgres": {"url": "postgresql://app@db.example/shop", "watermarkColumn": "updated_at"}},
                "workers": {"replicas": 2},
            },
            "workers.replicas: mode incremental runs one writer, so at most 1 replica",
        ),
        (
            {"mode": "snapshot", "transport": None, "schedule": "0 3 * * *", "workers": {"replicas": 3}},
            "workers.replicas: mode snapshot runs one writer",
        ),
        (
            {
                "transport": None,
                "source": {"postgres": {"url": "postgresql://app@db.example/shop", "capture": "logical"}},
                "workers": {"replicas": 2},
            },
            "workers.replicas: capture logical reads one replication slot",
        ),
        (
            {"source": {"postgres": {"url": "postgresql://app@db.example/shop", "capture": "logical"}}},
            "transport: capture logical reads its replication slot directly, without a transport",
        ),
        (
            {
                "mode": "incremental",
                "transport": None,
                "source": {
                    "postgres": {
                        "url": "postgresql://app@db.example/shop",
                        "capture": "logical",
                        "watermarkColumn": "updated_at",
                    }
                },
            },
            "source.postgres.capture: logical streams changes; mode incremental does not",
        ),
    ],
)
def test_invalid_pipeline_specs_name_the_field(changes: dict[str, object], message: str) -> None:
    document = {**shop_spec(), **changes}
    document = {key: value for key, value in document.items() if value is not None}
    with pytest.raises(ValidationError) as caught:
        SyncPipelineSpec.model_validate(document)
    assert message in str(caught.value)


def test_cron_ranges() -> None:
    for good in ("*/5 * * * *", "0 3 * * MON-FRI", "0 0 1,15 * *", "@hourly", "0 0 * JAN 0"):
        check_cron(good)
    for bad, message in (("0 24 * * *", "hour '24'"), ("0 0 0 * *", "day of month '0'"), ("*/0 * * * *", "step")):
        with pytest.raises(ValueError, match=message):
            check_cron(bad)


def test_reconciliation_job_spec() -> None:
    job = ReconciliationJobSpec.model_validate(
        {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *", "action": "repair", "scope": {"entities": ["a"]}}
    )
    assert job.job().action.value == "repair"
    assert job.job().scope.entities == ("a",)


def test_resource_names() -> None:
    assert valid_name("shop") is None
    assert "at most 40" in str(valid_name("x" * 41))
    assert "lower-case" in str(valid_name("Shop"))


def test_the_other_way_of_running_is_removed_only_when_the_spec_switched() -> None:
    body = {"spec": {"schedule": "0 2 * * *"}}
    assert scheduled_before(body, "create", None) is True  # nothing ran before: nothing to delete
    assert scheduled_before(body, "update", {"spec": {}}) is False  # it had a Deployment: delete it
    assert scheduled_before(body, "update", {"spec": {"schedule": "0 3 * * *"}}) is True
    assert scheduled_before(body, "resume", None) is None  # unknown after a restart: clean up to be sure


def test_syncpipelines_scale_through_their_workers_replicas() -> None:
    crd = all_crds()["syncpipelines.yaml"]
    [version] = crd["spec"]["versions"]
    assert version["subresources"]["scale"] == {
        "specReplicasPath": ".spec.workers.replicas",
        "statusReplicasPath": ".status.readyWorkers",
        "labelSelectorPath": ".status.selector",
    }
    spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert spec["properties"]["workers"]["default"] == {}
    assert spec["properties"]["workers"]["properties"]["replicas"]["default"] == 1
    assert names.selector_text("shop", names.SYNC) == "app.kubernetes.io/instance=shop,app.kubernetes.io/component=sync"
