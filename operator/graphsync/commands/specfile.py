"""Loading a pipeline spec file, with errors that name the field."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import yaml
from pydantic import ValidationError

from graphsync.spec import errors
from graphsync.spec.pipeline import PipelineSpec


class SpecError(ValueError):
    """The spec file is missing, not YAML, or invalid; the message names the file and the field."""


def file_option(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.ArgumentParser], None]:
    """How a command of the engine's CLI names its pipeline: `-f FILE`, then `handler` (`kubectl graphsync`
    names a SyncPipeline instead, see the plugin)."""

    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
        parser.set_defaults(handler=handler)

    return add


def act_on_file(
    args: argparse.Namespace, act: Callable[[PipelineSpec, argparse.Namespace, str], int], program: str
) -> int:
    """`act` on the spec in `args.file`; a bad file is said under `program`'s name, with exit code 2."""
    try:
        spec = load(args.file)
    except SpecError as exc:
        return refuse(program, str(exc))
    return act(spec, args, program)


def refuse(program: str, message: str) -> int:
    """A spec, job or option that cannot run, said on stderr under `program`'s name: exit status 2."""
    print(f"{program}: {message}", file=sys.stderr)
    return 2


def load(path: Path) -> PipelineSpec:
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise SpecError(f"{path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise SpecError(f"{path}: not valid YAML: {exc}") from exc
    # A SyncPipeline manifest works too: its spec embeds the pipeline spec, and with a namespace it is the
    # cluster's pipeline (its identity, so its state), as `dlq` and `conflicts` need.
    if isinstance(document, dict) and document.get("kind") == "SyncPipeline":
        meta = document.get("metadata") or {}
        named = {"name": meta.get("name", "default"), "namespace": meta.get("namespace")}
        document = {**{k: v for k, v in named.items() if v is not None}, **(document.get("spec") or {})}
    if not isinstance(document, dict):
        raise SpecError(f"{path}: expected a mapping at the top level")
    try:
        return PipelineSpec.model_validate(document)
    except ValidationError as exc:
        raise SpecError(f"{path}: invalid pipeline spec:\n{format_errors(exc)}") from exc


def format_errors(error: ValidationError) -> str:
    """One indented line per field at fault: its path, then what is wrong (`spec.errors`)."""
    return "\n".join(f"  {line}" for line in errors.messages(error))
