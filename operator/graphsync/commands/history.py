"""`graphsync history -f pipeline.yaml`: a pipeline's last runs, sync runs and reconciliations together, newest
first, from the records its target keeps (`graphsync.history`, `reconcile.audit`)."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import Any

from graphsync import history
from graphsync.commands import output, specfile
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
    output.add_option(command)


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
    output.emit(runs, args.output, history_text)
    return 0


def combined(
    syncs: Sequence[Mapping[str, Any]], reconciliations: Sequence[Mapping[str, Any]], limit: int
) -> list[dict[str, Any]]:
    """Both kinds in one list, each run saying its kind, newest first (pure)."""
    runs = [{**run, "kind": "sync"} for run in syncs]
    runs += [{**run, "kind": "reconcile"} for run in reconciliations]
    return sorted(runs, key=lambda run: str(run["startedAt"]), reverse=True)[:limit]


def history_text(runs: Sequence[Mapping[str, Any]], wide: bool = False) -> str:
    """A row per run, its counts last, an error on a line under it (pure); wide adds the run's id and when it
    finished."""
    if not runs:
        return "no runs recorded yet"
    headers = ["STARTED", "KIND", "WHAT", "OUTCOME"] + (["FINISHED", "ID"] if wide else []) + ["COUNTS"]
    rows, errors = [], []
    for run in runs:
        sync = run["kind"] == "sync"
        what = run.get("mode") if sync else run.get("action")
        counts = ", ".join(f"{name} {run.get(name) or 0:,}" for name in (_SYNC_COUNTS if sync else _RECONCILE_COUNTS))
        row = [str(run["startedAt"]), run["kind"], output.cell(what), str(run["outcome"])]
        row += [output.cell(run.get("finishedAt")), output.cell(run.get("id"))] if wide else []
        rows.append([*row, counts])
        errors.append(run.get("error"))
    header, *lines = output.table(headers, rows)
    shown = [header]
    for line, error in zip(lines, errors, strict=True):
        shown += [line, *([f"  error: {error}"] if error else [])]
    return "\n".join(shown)
