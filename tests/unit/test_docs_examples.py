"""Every YAML example in the docs (and the README) is what it claims to be (pure; no servers).

A fenced ```yaml block holding a SyncPipeline, ReconciliationJob or ConflictPolicy is checked twice, as a
user's `kubectl apply` would be: against the CRD's schema in crds/ (what the API server refuses) and through
the operator's own parsing and building (what ends in InvalidSpec). Every other YAML block must parse.
A wrong example in the docs is a user's first failure, so each failure names the page, the line and the field.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.api.specs import API_VERSION, ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.build.names import Owner
from graphsync_operator.controller.handlers.pipelines import build_pipeline
from graphsync_operator.controller.handlers.specs import Invalid, parse_spec
from tests.unit.crd_schema import problems

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
KINDS = {
    "SyncPipeline": "syncpipelines",
    "ReconciliationJob": "reconciliationjobs",
    "ConflictPolicy": "conflictpolicies",
}
# The opening fence may be indented (a block inside a list item); its closing fence is indented alike.
FENCE = re.compile(r"^(?P<indent>[ ]*)```yaml[ ]*$")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def yaml_blocks(root: Path, pages: list[Path] | None = None) -> list[Block]:
    """Every fenced ```yaml block of the Markdown pages under `root` (or of `pages` in it), dedented."""
    found = []
    for page in pages if pages is not None else sorted(root.rglob("*.md")):
        lines = page.read_text().splitlines()
        index = 0
        while index < len(lines):
            opening = FENCE.match(lines[index])
            index += 1
            if opening is None:
                continue
            indent, start, body = opening["indent"], index, []
            while index < len(lines) and lines[index].strip() != "```":
                body.append(lines[index][len(indent) :])
                index += 1
            found.append(Block(str(page.relative_to(root)), start, "\n".join(body) + "\n"))
            index += 1
    return found


def schema_of(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / f"{KINDS[kind]}.yaml").read_text())
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


# The README's example is the first a reader copies: it is held to the same checks.
BLOCKS = yaml_blocks(DOCS) + yaml_blocks(ROOT, [ROOT / "README.md"])
DOCUMENTS = [(block, doc) for block in BLOCKS for doc in yaml.safe_load_all(block.text) if isinstance(doc, dict)]
RESOURCES = [(block, doc) for block, doc in DOCUMENTS if doc.get("kind") in KINDS]
# A `graphsync run -f` file: a whole engine spec (fragments showing one option have no name).
ENGINE_SPECS = [
    (block, doc) for block, doc in DOCUMENTS if "kind" not in doc and {"name", "source", "target"} <= set(doc)
]
POLICIES = {doc["metadata"]["name"]: doc["spec"] for _, doc in RESOURCES if doc["kind"] == "ConflictPolicy"}


def refusals(resource: dict[str, Any]) -> list[str]:
    """What the API server, then the operator, would say against the resource: empty when it runs."""
    kind = resource["kind"]
    found = [] if resource.get("apiVersion") == API_VERSION else [f"apiVersion: not {API_VERSION}"]
    found += problems(resource, schema_of(kind), "")
    if found:
        return [problem.lstrip(".") for problem in found]
    body = {**resource, "metadata": {"namespace": "docs", **resource["metadata"]}}
    try:
        if kind == "SyncPipeline":
            ref = (resource["spec"].get("conflictPolicyRef") or {}).get("name")
            policy = ConflictPolicySpec.model_validate(POLICIES[ref]) if ref in POLICIES else None
            owner = Owner(kind=kind, name=body["metadata"]["name"], namespace="docs", uid="docs")
            build_pipeline(owner, parse_spec(body, SyncPipelineSpec), policy)
        elif kind == "ReconciliationJob":
            parse_spec(body, ReconciliationJobSpec)
        else:
            parse_spec(body, ConflictPolicySpec)
    except Invalid as exc:
        return [str(exc)]
    return []


def test_the_docs_hold_examples_of_every_kind() -> None:
    assert {doc["kind"] for _, doc in RESOURCES} == set(KINDS)
    assert ENGINE_SPECS


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_every_yaml_block_parses(block: Block) -> None:
    try:
        list(yaml.safe_load_all(block.text))
    except yaml.YAMLError as exc:
        pytest.fail(f"{block}: not YAML: {exc}")


def _id(item: object) -> str:
    if isinstance(item, Block):
        return str(item)
    return str(item.get("metadata", {}).get("name", "")) if isinstance(item, dict) else ""


@pytest.mark.parametrize(("block", "resource"), RESOURCES, ids=_id)
def test_every_resource_in_the_docs_is_accepted_and_runs(block: Block, resource: dict[str, Any]) -> None:
    assert refusals(resource) == [], f"{block}: {resource['kind']} {resource['metadata'].get('name')}"


@pytest.mark.parametrize(("block", "spec"), ENGINE_SPECS, ids=_id)
def test_every_engine_spec_in_the_docs_is_valid(block: Block, spec: dict[str, Any]) -> None:
    try:
        PipelineSpec.model_validate(spec)
    except ValidationError as exc:
        pytest.fail(f"{block}: {exc}")


def _shop() -> dict[str, Any]:
    return copy.deepcopy(next(doc for _, doc in RESOURCES if doc["kind"] == "SyncPipeline"))


def test_a_misspelt_field_is_refused_naming_it() -> None:
    resource = _shop()
    resource["spec"]["mappings"]["nodes"][0]["lables"] = ["Customer"]
    assert "spec.mappings.nodes[0].lables: unknown field" in refusals(resource)


def test_a_value_outside_the_enum_or_pattern_is_refused_naming_it() -> None:
    resource = _shop()
    resource["spec"]["mode"] = "sometimes"
    resource["spec"]["mappings"]["nodes"][0]["labels"] = ["Bad-Label"]
    found = refusals(resource)
    assert any(problem.startswith("spec.mode: 'sometimes' is not one of") for problem in found), found
    assert any(problem.startswith("spec.mappings.nodes[0].labels[0]: 'Bad-Label'") for problem in found), found


def test_what_only_the_operator_judges_is_refused_naming_it() -> None:
    resource = _shop()
    resource["spec"]["mode"] = "incremental"
    (found,) = refusals(resource)
    assert "watermarkColumn" in found
