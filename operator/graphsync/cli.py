"""The `graphsync` command: one entry point for workers, CronJobs and `graphsync run` on a laptop.

The local substrate's commands live in the development package (`graphsync-dev`), which the image
does not install.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from graphsync import __version__
from graphsync.commands import check as check_command
from graphsync.commands import checkpoints as checkpoints_command
from graphsync.commands import cleanup as cleanup_command
from graphsync.commands import completion
from graphsync.commands import conflicts as conflicts_command
from graphsync.commands import deadletter as deadletter_command
from graphsync.commands import history as history_command
from graphsync.commands import kubectl as kubectl_command
from graphsync.commands import reconcile as reconcile_command
from graphsync.commands import run as run_command
from graphsync.commands import schema as schema_command
from graphsync.commands import validate as validate_command
from graphsync.commands.helptext import document
from graphsync.commands.pages import PAGES


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="graphsync", description="Keep graph databases in sync with their sources.")
    root.add_argument("--version", action="version", version=f"graphsync {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_command.register(commands)
    validate_command.register(commands)
    check_command.register(commands)
    deadletter_command.register(commands)
    reconcile_command.register(commands)
    conflicts_command.register(commands)
    history_command.register(commands)
    checkpoints_command.register(commands)
    schema_command.register(commands)
    cleanup_command.register(commands)
    kubectl_command.register(commands)
    completion.register(commands, parser, "graphsync")
    document(root, PAGES)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else list(argv)
    if given[:1] == [kubectl_command.NAME]:
        return kubectl_command.hand_over(given[1:])
    args = parser().parse_args(given)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
