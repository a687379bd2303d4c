"""`graphsync-dev release`: every release artifact into a folder (`make release` runs it); pushing them is a
separate step for whoever holds the registry's credentials."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from graphsync_dev import gotools
from graphsync_dev.paths import source_root
from graphsync_dev.release import builder


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "release", help="build the image, chart, install file, wheel, sdist and krew plugin into a folder"
    )
    command.add_argument("--out", type=Path, default=Path("build/release"), help="default: build/release")
    command.add_argument("--no-image", action="store_true", help="skip the image (the install file keeps its tag)")
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    summary = builder.build(
        source_root(), args.out, helm=gotools.ensure("helm"), uv=Path(uv), with_image=not args.no_image
    )
    width = max(len(f["name"]) for f in summary["files"].values())
    for item in summary["files"].values():
        print(f"{item['name']:<{width}}  {item['bytes'] / 1e6:8.1f} MB")
    if "image" in summary:
        print(f"image {summary['image']['reference']}")
    print(f"wrote {args.out}/ (release.json, SHA256SUMS)")
    return 0
