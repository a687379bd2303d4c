"""`graphsync validate -f` and `kubectl graphsync validate -f`: specs and manifests checked offline, each error
naming its field (no servers)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync import cli as engine_cli
from graphsync.commands import kubectl, validate
from graphsync_operator.api import validation
from graphsync_operator.plugin import command as plugin
from tests.resources import resource, shop_spec


def manifest(**spec: Any) -> dict[str, Any]:
    found = resource("SyncPipeline", "shop", "prod", {**shop_spec(), **spec})
    found.pop("status", None)
    return found


def test_a_valid_pipeline_passes_and_a_secret_beside_it_is_passed_over() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-db"}}
    good, other = validation.findings([manifest(), secret])
    assert (good.document, good.kind, good.name, good.valid, good.checked) == (1, "SyncPipeline", "shop", True, True)
    assert (other.kind, other.checked, other.valid) == ("Secret", False, True)


def test_what_only_the_operator_knows_is_said_by_field() -> None:
    [found] = validation.findings([manifest(schedule="0 3 * * *")])
    assert not found.valid
    assert found.errors[0].startswith("spec.schedule: mode")
    [named] = validation.findings([{**manifest(), "metadata": {"name": "Shop_1"}}])
    assert named.errors[0].startswith("metadata.name:")
    [wrong] = validation.findings([{**manifest(), "apiVersion": "graphsync.io/v1"}])
    assert wrong.errors == ["apiVersion: graphsync.io/v1alpha1 (got 'graphsync.io/v1')"]


def test_a_field_deep_in_the_spec_is_named_with_its_path() -> None:
    broken = manifest()
    broken["spec"]["mappings"]["nodes"][0]["labels"] = ["not a label"]
    [found] = validation.findings([broken])
    assert any(error.startswith("spec.mappings.nodes[0].labels[0]:") for error in found.errors), found.errors


def test_a_policy_in_the_same_file_is_checked_and_inlined() -> None:
    policy = resource("ConflictPolicy", "careful", "prod", {"strategy": "noSuchStrategy"})
    policy.pop("status", None)
    found = validation.findings([policy])
    assert found[0].errors[0].startswith("spec.strategy:")
    job = resource("ReconciliationJob", "nightly", "prod", {"pipelineRef": {"name": "shop"}, "schedule": "0 25 * * *"})
    job.pop("status", None)
    [said] = validation.findings([job])
    assert "hour" in said.errors[0]


def test_a_plain_pipeline_spec_is_checked_by_the_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = {**copy.deepcopy(shop_spec()), "name": "shop"}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec))
    assert engine_cli.main(["validate", "-f", str(path)]) == 0
    assert capsys.readouterr().out == "pipeline shop: valid\n"
    del spec["target"]
    path.write_text(yaml.safe_dump(spec))
    assert engine_cli.main(["validate", "-f", str(path), "-o", "json"]) == 1
    assert "target: is required" in capsys.readouterr().out
    path.write_text("a: [")
    assert engine_cli.main(["validate", "-f", str(path)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_manifests_are_handed_to_the_operator_s_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump(manifest()))
    ran: list[list[str]] = []

    def replace_process(argv: Sequence[str]) -> int:
        ran.append(list(argv))
        return 0

    monkeypatch.setattr(kubectl, "replace_process", replace_process)
    monkeypatch.setattr(kubectl, "command_line", lambda arguments, beside: ["graphsync-operator", *arguments])
    assert engine_cli.main(["validate", "-f", str(path), "-o", "yaml"]) == 0
    assert ran == [["graphsync-operator", "validate", "-f", str(path), "-o", "yaml"]]


def test_the_plugin_validates_without_a_cluster(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(yaml.safe_dump_all([manifest(), manifest(suspend="maybe")]))
    assert plugin.main(["validate", "-f", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "document 1: SyncPipeline shop: valid"
    assert lines[1] == "document 2: SyncPipeline shop: invalid"
    assert lines[2].startswith("  spec.suspend:")
    assert validate.findings_text([], False) == ""
