"""`graphsync validate -f FILE`: a spec checked offline, before anything runs, each error naming its field.

A file of pipeline specs (one or more YAML documents) is checked here, by the models
`graphsync run` loads it with. A Kubernetes manifest (a document with a `kind`: a
SyncPipeline and the fields only the operator knows, a ConflictPolicy, a
ReconciliationJob) is checked by the operator's models, which the engine never
imports: the command hands the file over to `graphsync-operator validate`, as
`graphsync kubectl` hands over to the plugin.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from graphsync.commands import kubectl, output, specfile
from graphsync.spec import errors
from graphsync.spec.pipeline import PipelineSpec

NAME = "validate"


@dataclass(frozen=True)
class Finding:
    """One document of the file (counted from 1): what it is, and every field at fault (none: valid)."""

    document: int
    kind: str
    name: str | None
    errors: list[str] = field(default_factory=list)
    # False for a kind graphsync does not define (a Secret beside its resources): passed over, said so.
    checked: bool = True

    @property
    def valid(self) -> bool:
        return not self.errors

    def data(self) -> dict[str, Any]:
        return {**asdict(self), "valid": self.valid}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        NAME, help="check a pipeline spec (or SyncPipeline manifest) offline; errors name the field"
    )
    add_options(command)
    command.set_defaults(handler=main)


def add_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec, or manifests")
    output.add_option(command, wide=False)


def main(args: argparse.Namespace) -> int:
    try:
        documents = read(args.file)
    except ValueError as exc:
        return specfile.refuse("graphsync validate", str(exc))
    if any(isinstance(document, Mapping) and "kind" in document for document in documents):
        return _hand_over(args)
    found = [pipeline_finding(index, document) for index, document in enumerate(documents, 1)]
    output.emit([finding.data() for finding in found], args.output, findings_text)
    return 0 if all(finding.valid for finding in found) else 1


def read(path: Path) -> list[Any]:
    """The YAML documents of the file, empty ones skipped; ValueError when it cannot be read."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from exc
    try:
        documents = [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from exc
    if not documents:
        raise ValueError(f"{path}: no YAML document in it")
    return documents


def pipeline_finding(index: int, document: Any) -> Finding:
    """A plain pipeline spec checked by the engine's model (pure)."""
    name = document.get("name") if isinstance(document, Mapping) else None
    if not isinstance(document, Mapping):
        return Finding(index, "pipeline", None, ["expected a mapping of fields at the top level"])
    try:
        PipelineSpec.model_validate(document)
    except ValidationError as exc:
        return Finding(index, "pipeline", name if isinstance(name, str) else None, errors.messages(exc))
    return Finding(index, "pipeline", name if isinstance(name, str) else None)


def findings_text(found: Sequence[Mapping[str, Any]], wide: bool = False) -> str:
    """A line per document, valid or not, and under an invalid one a line per field at fault (pure)."""
    del wide
    lines = []
    for finding in found:
        what = f"{finding['kind']} {finding['name']}" if finding.get("name") else f"{finding['kind']}"
        where = f"document {finding['document']}: " if len(found) > 1 else ""
        said = "valid" if finding["valid"] else "invalid"
        lines.append(
            f"{where}{what}: {said if finding.get('checked', True) else 'not a graphsync resource, not checked'}"
        )
        lines.extend(f"  {error}" for error in finding["errors"])
    return "\n".join(lines)


def _hand_over(args: argparse.Namespace) -> int:
    given = ["-f", str(args.file), *(["-o", args.output] if args.output else [])]
    argv = kubectl.command_line([NAME, *given], Path(sys.executable).parent)
    if argv is None:
        print(
            "graphsync validate: the file holds Kubernetes manifests, which the operator's models check;"
            f" install graphsync's operator package ({kubectl.OPERATOR}) to validate them",
            file=sys.stderr,
        )
        return 2
    return kubectl.replace_process(argv)
