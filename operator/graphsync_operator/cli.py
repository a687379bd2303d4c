"""The `graphsync-operator` command: the operator itself, the worker a pod runs, and the CRDs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from graphsync import __version__
from graphsync.commands.helptext import CODES, Page, document
from graphsync_operator.api import crdfiles, validation
from graphsync_operator.controller import command as operator
from graphsync_operator.plugin import command as plugin
from graphsync_operator.worker import command as worker


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="graphsync-operator", description="graphsync's Kubernetes operator.")
    root.add_argument("--version", action="version", version=f"graphsync-operator {__version__}")
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    operator.register(commands)
    crdfiles.register(commands)
    worker.register(commands)
    validation.register(commands)
    plugin.register(commands)
    document(root, PAGES)
    return root


# A worker's exit codes are what the Deployment, CronJob or Job sees: 1 makes Kubernetes restart or retry it.
_WORKER = {0: "done", 1: "items failed, or the run failed (Kubernetes restarts or retries it)", 2: "bad spec or config"}
PAGES = {
    "": Page(
        [
            "graphsync-operator run -A                          # the operator, watching every namespace",
            "graphsync-operator validate -f syncpipeline.yaml   # manifests checked offline",
            "graphsync-operator kubectl status -A               # the kubectl plugin, under this name",
        ],
        {0: "done", 1: "the command failed (each command's --help says when)", 2: "bad input: options or files"},
    ),
    "run": Page(
        ["graphsync-operator run -A", "graphsync-operator run -n shop -n billing --log-level debug"],
        {0: "stopped (SIGTERM)", 1: "the operator could not start or lost the cluster", 2: "bad options"},
    ),
    "crds": Page(
        ["graphsync-operator crds > crds.yaml", "graphsync-operator crds --check crds/   # exit 1 when they drifted"],
        {0: "written, or the files match the models", 1: "--check, --chart-check: the files differ", 2: "bad options"},
    ),
    "worker": Page(["graphsync-operator worker sync -f /etc/graphsync/pipeline.yaml"], _WORKER),
    "worker sync": Page(
        [
            "graphsync-operator worker sync -f /etc/graphsync/pipeline.yaml",
            "graphsync-operator worker sync -f p.yaml --until-idle",
        ],
        _WORKER,
    ),
    "worker reconcile": Page(["graphsync-operator worker reconcile -f /etc/graphsync/pipeline.yaml --repair"], _WORKER),
    "worker cleanup": Page(["graphsync-operator worker cleanup -f /etc/graphsync/pipeline.yaml"], _WORKER),
    "validate": Page(
        [
            "graphsync-operator validate -f manifests/samples/syncpipeline-postgres-neo4j.yaml",
            "graphsync-operator validate -f all.yaml -o json",
        ],
        {**CODES, 1: "a document is invalid: each field at fault is named", 2: "the file is missing or not YAML"},
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
