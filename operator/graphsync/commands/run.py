"""`graphsync run -f pipeline.yaml`: run a pipeline locally, the same code a worker pod runs."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from pathlib import Path

from graphsync import logs
from graphsync.commands import output, process, specfile
from graphsync.commands.progress import Progress, summary_text
from graphsync.pipelines import run as pipeline_run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("run", help="run a pipeline spec locally until stopped (Ctrl-C, SIGTERM)")
    add_run_arguments(command)
    output.add_option(command, wide=False)
    command.add_argument(
        "--log-level",
        choices=tuple(logs.LEVELS),
        default="warning",
        help="how much to log on stderr (default warning; debug names every change applied)",
    )
    command.set_defaults(handler=main)


def add_run_arguments(command: argparse.ArgumentParser) -> None:
    """The spec file and how to run it, which `control` reads (shared with the worker's `sync`)."""
    command.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
    command.add_argument("--until-idle", action="store_true", help="stop once nothing is left to sync")
    command.add_argument(
        "--role",
        choices=("all", "relay", "consumer"),
        default="all",
        help="streaming modes: run the relay, the consumer, or both (default)",
    )


def main(args: argparse.Namespace) -> int:
    logs.configure("text", logs.LEVELS[args.log_level])
    return specfile.act_on_file(args, act, "graphsync run")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync run") -> int:
    stop = process.stop_on_signals()
    progress = Progress()
    try:
        stats = pipeline_run.run(spec, control(args, stop, progress))
    except ValueError as exc:
        return specfile.refuse(program, str(exc))
    finally:
        progress.finish()
    output.emit(stats.summary(), args.output, summary_text)
    return status(stats)


def control(args: argparse.Namespace, stop: threading.Event, on_batch: Callable[[RunStats], None]) -> RunControl:
    """The run the options ask for (`--until-idle`, `--role`), stopped by `stop`, kept in the target's history."""
    return RunControl(
        stop=stop,
        until_idle=args.until_idle,
        on_batch=on_batch,
        relay=args.role in ("all", "relay"),
        consume=args.role in ("all", "consumer"),
        history=True,
    )


def status(stats: RunStats) -> int:
    """The exit status of a run: 1 when items failed (they are in the dead-letter store), else 0."""
    return 1 if stats.failed else 0
