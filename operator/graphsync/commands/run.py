"""`graphsync run -f pipeline.yaml`: run a pipeline locally, the same code a worker pod runs."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from graphsync import logs
from graphsync.commands import output, specfile
from graphsync.commands.progress import Progress, summary_text
from graphsync.pipelines import run as pipeline_run
from graphsync.runner.control import RunControl


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("run", help="run a pipeline spec locally until stopped (Ctrl-C, SIGTERM)")
    command.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
    command.add_argument("--until-idle", action="store_true", help="stop once nothing is left to sync")
    output.add_option(command, wide=False)
    command.add_argument(
        "--role",
        choices=("all", "relay", "consumer"),
        default="all",
        help="streaming modes: run the relay, the consumer, or both (default)",
    )
    command.add_argument(
        "--log-level",
        choices=tuple(logs.LEVELS),
        default="warning",
        help="how much to log on stderr (default warning; debug names every change applied)",
    )
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    logs.configure("text", logs.LEVELS[args.log_level])
    try:
        spec = specfile.load(args.file)
    except specfile.SpecError as exc:
        print(f"graphsync run: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        # Finish the in-flight batch, checkpoint it, then exit.
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    progress = Progress()
    try:
        stats = pipeline_run.run(
            spec,
            RunControl(
                stop=stop,
                until_idle=args.until_idle,
                on_batch=progress,
                relay=args.role in ("all", "relay"),
                consume=args.role in ("all", "consumer"),
                history=True,
            ),
        )
    except ValueError as exc:
        print(f"graphsync run: {exc}", file=sys.stderr)
        return 2
    finally:
        progress.finish()
    output.emit(stats.summary(), args.output, summary_text)
    return 1 if stats.failed else 0
