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


def size_text(count: int) -> str:
    """1.2 MB, 33 KB, 887 B (decimal units, as registries show sizes)."""
    if count >= 1_000_000:
        return f"{count / 1e6:.1f} MB"
    return f"{count / 1e3:.0f} KB" if count >= 1_000 else f"{count} B"


def main(args: argparse.Namespace) -> int:
    # The uv bootstrap installed beside this interpreter (the version CI pins), else one on PATH.
    beside = Path(sys.executable).parent / "uv"
    uv = str(beside) if beside.is_file() else shutil.which("uv")
    if uv is None:
        raise SystemExit("uv is missing: run make bootstrap")
    summary = builder.build(
        source_root(), args.out, helm=gotools.ensure("helm"), uv=Path(uv), with_image=not args.no_image
    )
    width = max(len(f["name"]) for f in summary["files"].values())
    for item in summary["files"].values():
        print(f"{item['name']:<{width}}  {size_text(item['bytes']):>9}")
    if "image" in summary:
        print(f"image {summary['image']['reference']}")
    print(f"wrote {args.out}/ (release.json, SHA256SUMS)")
    return 0
