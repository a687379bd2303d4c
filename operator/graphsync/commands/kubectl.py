"""`graphsync kubectl ...`: the kubectl graphsync plugin, reached from the engine's command.

The plugin talks to Kubernetes, which the engine never imports; so this command hands
its arguments over to `graphsync-operator kubectl` (installed with the operator) by
replacing this process with it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

NAME = "kubectl"
OPERATOR = "graphsync-operator"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Listed for --help; `main` hands `graphsync kubectl ...` over before parsing, so options such as
    # `-n NS` reach the plugin as they were typed, before or after its subcommand.
    command = subparsers.add_parser(
        NAME, help="the kubectl graphsync plugin (status, pause, resume, ...); needs the operator installed"
    )
    command.add_argument("arguments", nargs=argparse.REMAINDER, help="as for `kubectl graphsync`")
    command.set_defaults(handler=lambda args: hand_over(args.arguments))


def command_line(
    arguments: Sequence[str], beside: Path, which: Callable[[str], str | None] = shutil.which
) -> list[str] | None:
    """`graphsync-operator ARGUMENTS...`: the operator's command next to this Python (its virtualenv or install)
    first, else on PATH; None when neither has it."""
    local = beside / OPERATOR
    found = str(local) if os.access(local, os.X_OK) and local.is_file() else which(OPERATOR)
    return None if found is None else [found, *arguments]


def replace_process(argv: Sequence[str]) -> int:
    """Become the operator's command (its output, exit code and signals are then its own); returns only in tests
    that replace `os.execvp`."""
    sys.stdout.flush()
    os.execvp(argv[0], list(argv))  # noqa: S606 - the operator's own command, found by command_line; no shell
    return 0


def hand_over(arguments: Sequence[str]) -> int:
    """Replace this process with the plugin's."""
    argv = command_line([NAME, *arguments], Path(sys.executable).parent)
    if argv is not None:
        return replace_process(argv)
    print(
        f"graphsync kubectl: {OPERATOR} was found neither next to {sys.executable} nor on PATH;"
        " install graphsync's operator package to use the plugin",
        file=sys.stderr,
    )
    return 2
