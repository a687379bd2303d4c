"""`graphsync-operator crds`: print the CRDs, write them into a directory, or check a directory is current."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from graphsync_operator.crds import all_crds, render


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("crds", help="the CustomResourceDefinitions, generated from the API models")
    choice = command.add_mutually_exclusive_group()
    choice.add_argument("--write", type=Path, metavar="DIR", help="write one file per CRD into DIR")
    choice.add_argument("--check", type=Path, metavar="DIR", help="exit 1 when DIR's files differ from the models")
    command.set_defaults(handler=main)


def stale(directory: Path) -> list[str]:
    """The CRD files in `directory` that are missing or differ from what the models generate."""
    return [
        name
        for name, manifest in all_crds().items()
        if not (directory / name).is_file() or (directory / name).read_text() != render(manifest)
    ]


def main(args: argparse.Namespace) -> int:
    if args.write:
        args.write.mkdir(parents=True, exist_ok=True)
        for name, manifest in all_crds().items():
            (args.write / name).write_text(render(manifest))
        return 0
    if args.check:
        outdated = stale(args.check)
        for name in outdated:
            print(f"{args.check / name}: differs from the API models; run graphsync-operator crds --write {args.check}")
        return 1 if outdated else 0
    sys.stdout.write("---\n".join(render(manifest) for manifest in all_crds().values()))
    return 0
