"""The `graphsync-operator` command: the operator itself, the worker a pod runs, and the CRDs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from graphsync import __version__
from graphsync_operator import crdfiles, operator, worker
from graphsync_operator.plugin import command as plugin


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="graphsync-operator", description="graphsync's Kubernetes operator.")
    root.add_argument("--version", action="version", version=f"graphsync-operator {__version__}")
    commands = root.add_subparsers(dest="command", required=True)
    operator.register(commands)
    crdfiles.register(commands)
    worker.register(commands)
    plugin.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
