"""`graphsync history -f pipeline.yaml`: a pipeline's last runs, sync runs and reconciliations together, newest
first, from the records its target keeps (`graphsync.history`, `reconcile.audit`)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from graphsync import history
from graphsync.commands import specfile
from graphsync.reconcile.audit import Audit
from graphsync.reconcile.pipeline import audit_store, existing
from graphsync.spec.pipeline import PipelineSpec

# What a row shows of each kind of run, after its outcome.
_SYNC_COUNTS = ("synced", "failed", "retries")
_RECONCILE_COUNTS = ("compared", "missing", "extra", "different", "repaired")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("history", help="a pipeline's last sync runs and reconciliations, newest first")
    add_options(command, specfile.file_option(main))


def add_options(command: argparse.ArgumentParser, pipeline: Callable[[argparse.ArgumentParser], None]) -> None:
    """The options; `pipeline` adds how the command names its pipeline (here a spec file; `kubectl graphsync
    history` names the SyncPipeline) and its handler, which then calls `act`."""
    pipeline(command)
    command.add_argument("--limit", type=int, default=20, help="how many runs (default 20)")
    command.add_argument("--kind", choices=("sync", "reconcile"), help="only runs of this kind")
    command.add_argument("--json", action="store_true", help="print JSON")


def main(args: argparse.Namespace) -> int:
    return specfile.act_on_file(args, act, "graphsync history")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync history") -> int:
    """List the runs `args` asks for, of the pipeline `spec` (`program`: unused, as the other actions take it)."""
    del program
    with ExitStack() as stack:
        store = existing(audit_store(spec, stack))
        syncs = history.runs(store, spec.identity, args.limit) if store is not None and args.kind != "reconcile" else []
        checks = Audit(store).runs(spec.identity, args.limit) if store is not None and args.kind != "sync" else []
    runs = combined(syncs, checks, args.limit)
    print(json.dumps(runs, indent=2, default=str) if args.json else history_text(runs))
    return 0


def combined(
    syncs: Sequence[Mapping[str, Any]], reconciliations: Sequence[Mapping[str, Any]], limit: int
) -> list[dict[str, Any]]:
    """Both kinds in one list, each run saying its kind, newest first (pure)."""
    runs = [{**run, "kind": "sync"} for run in syncs]
    runs += [{**run, "kind": "reconcile"} for run in reconciliations]
    return sorted(runs, key=lambda run: str(run["startedAt"]), reverse=True)[:limit]


def history_text(runs: Sequence[Mapping[str, Any]]) -> str:
    if not runs:
        return "no runs recorded yet"
    lines = [f"{'started':<30} {'kind':<9} {'what':<18} {'outcome':<10} counts"]
    for run in runs:
        sync = run["kind"] == "sync"
        what = run.get("mode") if sync else run.get("action")
        counts = ", ".join(f"{name} {run.get(name) or 0:,}" for name in (_SYNC_COUNTS if sync else _RECONCILE_COUNTS))
        lines.append(f"{run['startedAt']:<30} {run['kind']:<9} {what or '':<18} {run['outcome']:<10} {counts}")
        if run.get("error"):
            lines.append(f"  error: {run['error']}")
    return "\n".join(lines)
