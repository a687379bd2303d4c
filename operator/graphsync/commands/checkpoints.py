"""`graphsync checkpoints -f pipeline.yaml`: every position the pipeline keeps, where it keeps it
(`graphsync.positions`), read-only."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

from graphsync.commands import specfile
from graphsync.positions import Position, positions
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
    command.add_argument("--json", action="store_true", help="print JSON")


def main(args: argparse.Namespace) -> int:
    return specfile.act_on_file(args, act, "graphsync checkpoints")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync checkpoints") -> int:
    del program
    found = positions(spec)
    print(json.dumps([p.summary() for p in found], indent=2, default=str) if args.json else positions_text(found))
    return 0


def positions_text(found: Sequence[Position]) -> str:
    """One line per position, the value as compact JSON after what it means (pure)."""
    if not found:
        return "no positions kept (yet)"
    width = max(len(p.name) for p in found)
    lines = [f"{'store':<9} {'name':<{width}} value"]
    for position in found:
        value = json.dumps(position.value, default=str, separators=(",", ":"))
        lines.append(f"{position.store:<9} {position.name:<{width}} {value}")
        if position.detail:
            lines.append(f"{'':<9} {'':<{width}} {position.detail}")
    return "\n".join(lines)
