"""`graphsync-dev gitops`: the Argo CD health check, as the argocd-cm snippet, generated from its Lua file.

The Lua in `manifests/gitops/argocd/health.lua` is the one source (tests run it in a
real Lua interpreter); `argocd-cm.yaml` beside it holds that script under one key
per kind, `resource.customizations.health.graphsync.io_<Kind>`, as Argo CD reads
them. Flux needs nothing: its kstatus reads the conditions the operator already writes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from graphsync_dev.paths import source_root
from graphsync_operator.api.specs import GROUP

KINDS = ("SyncPipeline", "ReconciliationJob", "ConflictPolicy")
SCRIPT = Path("argocd") / "health.lua"
SNIPPET = Path("argocd") / "argocd-cm.yaml"
HEADER = (
    "# Generated from health.lua by `graphsync-dev gitops --write manifests/gitops`; do not edit.\n"
    "# Merge into Argo CD's argocd-cm: kubectl -n argocd patch configmap argocd-cm --patch-file argocd-cm.yaml\n"
)


def health_key(kind: str) -> str:
    return f"resource.customizations.health.{GROUP}_{kind}"


def argocd_cm(script: str) -> dict[str, Any]:
    """The part of argocd-cm that teaches Argo CD our resources' health: the same script for each kind."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": "argocd",
            "labels": {"app.kubernetes.io/name": "argocd-cm", "app.kubernetes.io/part-of": "argocd"},
        },
        "data": {health_key(kind): script for kind in KINDS},
    }


class _BlockDumper(yaml.SafeDumper):
    """Writes multi-line strings as YAML blocks (`|`), so the Lua in the snippet reads as Lua."""


def _block(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_BlockDumper.add_representer(str, _block)


def render(script: str) -> str:
    return HEADER + yaml.dump(argocd_cm(script), Dumper=_BlockDumper, sort_keys=False, width=1000)


def snippet(directory: Path) -> str:
    """What `directory`/argocd/argocd-cm.yaml must hold, from `directory`/argocd/health.lua."""
    return render((directory / SCRIPT).read_text())


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("gitops", help="the Argo CD health check snippet, from its Lua file")
    choice = command.add_mutually_exclusive_group()
    choice.add_argument("--write", type=Path, metavar="DIR", help=f"write DIR/{SNIPPET} (DIR: manifests/gitops)")
    choice.add_argument("--check", type=Path, metavar="DIR", help=f"exit 1 when DIR/{SNIPPET} is not current")
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.write:
        (args.write / SNIPPET).write_text(snippet(args.write))
        return 0
    if args.check:
        current = (args.check / SNIPPET).is_file() and (args.check / SNIPPET).read_text() == snippet(args.check)
        if not current:
            print(f"{args.check / SNIPPET}: differs from {SCRIPT}; run graphsync-dev gitops --write {args.check}")
        return 0 if current else 1
    sys.stdout.write(snippet(source_root() / "manifests" / "gitops"))
    return 0
