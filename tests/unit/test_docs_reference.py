"""The docs' API reference is the one the CRDs generate, and says what a reader looks it up for (pure)."""

from __future__ import annotations

import re
from pathlib import Path

from graphsync_dev.commands.reference import crds_in, example, fields, page, samples_in, type_of, validation

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "reference" / "api.md"


def generated() -> str:
    return page(crds_in(ROOT / "crds"), samples_in(ROOT / "manifests" / "samples"))


def test_the_committed_reference_is_the_one_the_crds_generate() -> None:
    assert PAGE.read_text() == generated(), "run: graphsync-dev reference --write docs/reference/api.md"


def test_every_field_of_every_crd_has_a_row() -> None:
    text = PAGE.read_text()
    for crd in crds_in(ROOT / "crds").values():
        root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
        for part in ("spec", "status"):
            for field in fields(root[part], part):
                assert f"| `{field.path}`" in text, field.path


def test_a_field_says_its_type_default_validation_and_example() -> None:
    schema = {"type": "integer", "default": 1, "minimum": 0, "maximum": 64, "description": "worker pods"}
    assert type_of(schema) == "integer"
    assert validation(schema) == [">= 0", "<= 64"]
    assert example("spec.workers.replicas", schema, ()) == 1
    assert example("spec.workers.replicas", schema, [3]) == 3
    labels = {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]{0,62}$"}}
    assert type_of(labels) == "list of string"
    assert example("spec.mappings.nodes[].labels", labels, ()) == ["customer"]
    assert type_of({"type": "object", "additionalProperties": {"type": "string"}}) == "map of string to string"
    assert validation({"type": "string", "enum": ["a", "b"]}) == ["one of `a`, `b`"]


def test_a_bar_in_a_description_does_not_split_the_row() -> None:
    rows = [line for line in generated().splitlines() if line.startswith("| `spec.schedule`")]
    assert rows
    for row in rows:
        # Seven bars outside code spans: six cells.
        outside = re.sub(r"`[^`]*`", "", row).replace(r"\|", "")
        assert outside.count("|") == 7, row
