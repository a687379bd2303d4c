"""The `graphsync-dev` command: what a developer runs from a checkout, never shipped in the image."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from graphsync import __version__
from graphsync_dev.commands import demo, gitops, manifests, reference, release, servers


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="graphsync-dev",
        description="graphsync's development tools: the local servers, the demo, generated files, releases.",
    )
    root.add_argument("--version", action="version", version=f"graphsync-dev {__version__}")
    commands = root.add_subparsers(dest="command", required=True)
    servers.register(commands)
    demo.register(commands)
    manifests.register(commands)
    gitops.register(commands)
    reference.register(commands)
    release.register(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
