"""`graphsync-operator validate -f FILE` and `kubectl graphsync validate -f FILE`: manifests checked offline by
the models the operator parses them with, before they are applied; every error names its field.

The API server checks a resource's form (the CRD's schema and CEL rules) when it is
applied; what only the operator's models know (a cron field out of range, a schedule on
a streaming mode, two replicas reading one replication slot) shows as InvalidSpec once
it is there. This says both at once, from a file, with no cluster: the same parse the
handlers do (`handlers.specs.parse_spec`), the name checked as they check it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from graphsync.commands import output, specfile
from graphsync.commands import validate as engine_validate
from graphsync.commands.validate import Finding
from graphsync.spec import errors
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.api.specs import API_VERSION, ReconciliationJobSpec, SyncPipelineSpec, valid_name

MODELS: Mapping[str, type[BaseModel]] = {
    "SyncPipeline": SyncPipelineSpec,
    "ReconciliationJob": ReconciliationJobSpec,
    "ConflictPolicy": ConflictPolicySpec,
}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        engine_validate.NAME, help="check SyncPipeline, ReconciliationJob and ConflictPolicy manifests offline"
    )
    add_options(command)


def add_options(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "-f", "--file", type=Path, required=True, help="manifests (several documents), or a pipeline spec"
    )
    output.add_option(command, wide=False)
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Exit 0 when every document is valid, 1 when one is not, 2 when the file cannot be read."""
    try:
        documents = engine_validate.read(args.file)
    except ValueError as exc:
        return specfile.refuse("validate", str(exc))
    found = findings(documents)
    output.emit([finding.data() for finding in found], args.output, engine_validate.findings_text)
    return 0 if all(finding.valid for finding in found) else 1


def findings(documents: Sequence[Any]) -> list[Finding]:
    """Each document checked (pure): graphsync's kinds by their models, a plain pipeline spec by the engine's;
    other kinds (a Secret beside them) pass unchecked, said so. A SyncPipeline whose ConflictPolicy is in the
    same file is checked with it inlined, as its workers will run it."""
    policies = {
        (document.get("metadata") or {}).get("name"): document.get("spec") or {}
        for document in documents
        if isinstance(document, Mapping) and document.get("kind") == "ConflictPolicy"
    }
    return [_finding(index, document, policies) for index, document in enumerate(documents, 1)]


def _finding(index: int, document: Any, policies: Mapping[Any, Any]) -> Finding:
    if not isinstance(document, Mapping) or "kind" not in document:
        return engine_validate.pipeline_finding(index, document)
    kind = str(document["kind"])
    meta = document.get("metadata") or {}
    name = meta.get("name") if isinstance(meta, Mapping) and isinstance(meta.get("name"), str) else None
    if kind not in MODELS:
        return Finding(index, kind, name, checked=False)
    problems = []
    if document.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion: {API_VERSION} (got {document.get('apiVersion')!r})")
    naming = "metadata.name: is required" if name is None else valid_name(name)
    if naming is not None:
        problems.append(naming)
    spec = document.get("spec")
    if not isinstance(spec, Mapping):
        return Finding(index, kind, name, [*problems, "spec: is required (a mapping of fields)"])
    try:
        parsed = MODELS[kind].model_validate(dict(spec))
    except ValidationError as exc:
        return Finding(index, kind, name, [*problems, *errors.messages(exc, "spec")])
    if isinstance(parsed, SyncPipelineSpec) and not problems:
        problems += _as_run(parsed, name or "", str(meta.get("namespace") or "default"), policies)
    return Finding(index, kind, name, problems)


def _as_run(spec: SyncPipelineSpec, name: str, namespace: str, policies: Mapping[Any, Any]) -> list[str]:
    """The engine spec its workers get: a referenced policy in the file is inlined and checked with it."""
    policy = None
    if spec.conflict_policy_ref is not None and spec.conflict_policy_ref.name in policies:
        try:
            policy = ConflictPolicySpec.model_validate(policies[spec.conflict_policy_ref.name])
        except ValidationError:
            return []  # said under the ConflictPolicy's own document
    try:
        spec.engine_spec(name, namespace, policy)
    except ValidationError as exc:
        return errors.messages(exc, "spec")
    except ValueError as exc:
        return [str(exc)]
    return []
