"""What `kubectl explain` and people reading the generated files get: every field of every CRD described, in
YAML without anchors (no servers)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync_operator.api.crds import all_crds, render

ROOT = Path(__file__).parents[2]
# PyYAML's anchors and aliases (`&id001`, `*id001`), in plain YAML files and in the chart's templates alike.
ALIAS = re.compile(r"[&*]id\d{3}\b")


def undescribed(node: dict[str, Any], path: str) -> list[str]:
    """The properties under `node` (an OpenAPI schema) without a description, by their path."""
    found = []
    for name, field in (node.get("properties") or {}).items():
        where = f"{path}.{name}"
        if not str(field.get("description", "")).strip():
            found.append(where)
        found += undescribed(field, where)
    if isinstance(node.get("items"), dict):
        found += undescribed(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        found += undescribed(node["additionalProperties"], f"{path}{{}}")
    return found


@pytest.mark.parametrize("file", sorted(all_crds()))
def test_every_field_of_every_crd_has_a_description(file: str) -> None:
    schema = all_crds()[file]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    assert schema["description"], f"{file}: the kind itself"
    # The API server describes metadata (ObjectMeta) itself and refuses a CRD that says anything more of it.
    assert undescribed(schema, "") == [".metadata"], f"{file}: add Field(description=...) or a docstring to the models"


def test_the_walk_finds_an_undescribed_field_wherever_it_is() -> None:
    schema = {
        "properties": {
            "a": {"description": "x", "properties": {"b": {"type": "string"}}},
            "c": {"description": "x", "items": {"properties": {"d": {"description": " "}}}},
            "e": {"description": "x", "additionalProperties": {"properties": {"f": {}}}},
        }
    }
    assert undescribed(schema, "") == [".a.b", ".c[].d", ".e{}.f"]


def generated_files() -> list[Path]:
    """The CRDs wherever they are generated to (plain files, the chart's), and the install files."""
    found = [
        *ROOT.glob("crds/*.yaml"),
        *ROOT.glob("charts/graphsync/crds/*.yaml"),
        *ROOT.glob("charts/graphsync/templates/crds/*.yaml"),
        *ROOT.glob("manifests/**/*.yaml"),
    ]
    return sorted(found)


def test_no_generated_file_holds_a_yaml_anchor_or_alias() -> None:
    files = generated_files()
    assert len([f for f in files if f.parent.name == "crds"]) >= 6, "the CRDs and their copies"
    anchored = [str(path.relative_to(ROOT)) for path in files if ALIAS.search(path.read_text())]
    assert anchored == []


def test_the_crd_writer_repeats_a_shared_value_instead_of_aliasing_it() -> None:
    # The models share objects between CRDs and fields (printer columns, rules): each must come out written in full.
    texts = [render(crd) for crd in all_crds().values()]
    assert not any(ALIAS.search(text) for text in texts)
    shared = {"rule": "self == oldSelf"}
    text = render({"a": shared, "b": [shared, shared]})
    assert not ALIAS.search(text)
    assert yaml.safe_load(text) == {"a": shared, "b": [shared, shared]}
