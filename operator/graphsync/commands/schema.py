"""`graphsync schema -f pipeline.yaml [--accept]`: how each mapped table's columns changed since the pipeline
last took them (`graphsync.shapes`); `--accept` takes the current ones, which ends a schema stop."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping

from graphsync.commands import output, specfile
from graphsync.shapes import Watch, watched_spec
from graphsync.spec.pipeline import PipelineSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "schema", help="how the mapped tables' columns changed since the pipeline took them; --accept takes them"
    )
    add_options(command, specfile.file_option(main))


def add_options(command: argparse.ArgumentParser, pipeline: Callable[[argparse.ArgumentParser], None]) -> None:
    """The options; `pipeline` adds how the command names its pipeline and its handler (see checkpoints)."""
    pipeline(command)
    command.add_argument(
        "--accept", action="store_true", help="take the current columns: a pipeline stopped by a change goes on"
    )
    output.add_option(command, wide=False)


def main(args: argparse.Namespace) -> int:
    return specfile.act_on_file(args, act, "graphsync schema")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync schema") -> int:
    if not watched_spec(spec):
        print(f"{program}: only a PostgreSQL source's tables are watched (not this pipeline's)")
        return 2
    found = Watch(spec).differences(accept=args.accept)
    output.emit(found, args.output, lambda data, _wide: changes_text(data, accepted=args.accept))
    return 0


def changes_text(found: Mapping[str, list[str]], *, accepted: bool) -> str:
    """One line per entity type, its changes under it (pure)."""
    lines = []
    for entity, changes in found.items():
        if not changes:
            lines.append(f"{entity}: as the pipeline took it")
            continue
        lines.append(f"{entity}: {'accepted' if accepted else 'changed'}")
        lines.extend(f"  {change}" for change in changes)
    return "\n".join(lines)
