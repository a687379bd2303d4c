"""`graphsync check -f pipeline.yaml`: before a pipeline runs, can it reach its servers, read and capture what it
maps, and write its target? (`graphsync.preflight` decides, `graphsync.probes` asks.)

Exit status: 0 when nothing failed (warnings allowed), 1 when a check failed, 2 for a
bad spec. `kubectl graphsync check NAME` runs the same checks on a SyncPipeline.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from graphsync import probes
from graphsync.commands import output, specfile
from graphsync.preflight import Outcome, checks_text, worst
from graphsync.spec.pipeline import PipelineSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "check", help="before it runs: connectivity, permissions, replica identity, indexes of a pipeline"
    )
    add_options(command, specfile.file_option(main))


def add_options(command: argparse.ArgumentParser, pipeline: Callable[[argparse.ArgumentParser], None]) -> None:
    """`pipeline` adds how the command names its pipeline and its handler (see checkpoints)."""
    pipeline(command)
    output.add_option(command, wide=False)


def main(args: argparse.Namespace) -> int:
    return specfile.act_on_file(args, act, "graphsync check")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync check") -> int:
    del program
    found = probes.run(spec)
    output.emit([check.data() for check in found], args.output, checks_text)
    return 1 if worst(found) is Outcome.FAILED else 0
