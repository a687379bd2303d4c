"""`graphsync checkpoints -f pipeline.yaml`: every position the pipeline keeps, where it keeps it
(`graphsync.positions`), read-only."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from graphsync.commands import output, specfile
from graphsync.positions import positions
from graphsync.spec.pipeline import PipelineSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "checkpoints", help="every position a pipeline keeps: snapshot progress, watermarks, slot or stream groups"
    )
    add_options(command, specfile.file_option(main))


def add_options(command: argparse.ArgumentParser, pipeline: Callable[[argparse.ArgumentParser], None]) -> None:
    """The options; `pipeline` adds how the command names its pipeline (a spec file here, a SyncPipeline in
    `kubectl graphsync checkpoints`) and its handler, which then calls `act`."""
    pipeline(command)
    output.add_option(command)


def main(args: argparse.Namespace) -> int:
    return specfile.act_on_file(args, act, "graphsync checkpoints")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync checkpoints") -> int:
    del program
    output.emit([position.summary() for position in positions(spec)], args.output, positions_text)
    return 0


def positions_text(found: Sequence[Mapping[str, Any]], wide: bool = False) -> str:
    """A row per position, the value as compact JSON (pure); what it means under it, or (wide) in a column."""
    if not found:
        return "no positions kept (yet)"
    headers = ["STORE", "NAME", "VALUE"] + (["DETAIL"] if wide else [])
    rows = []
    for position in found:
        value = json.dumps(position["value"], default=str, separators=(",", ":"))
        rows.append([position["store"], position["name"], value] + ([position["detail"] or ""] if wide else []))
    header, *lines = output.table(headers, rows)
    if wide:
        return "\n".join([header, *lines])
    indent = header.index("VALUE")
    shown = [header]
    for line, position in zip(lines, found, strict=True):
        shown += [line, *([" " * indent + position["detail"]] if position["detail"] else [])]
    return "\n".join(shown)
