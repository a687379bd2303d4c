"""`graphsync cleanup -f pipeline.yaml [-o json|yaml]`: remove what a pipeline made outside Kubernetes, keep its data.

Exit status: 0 when everything is cleaned up (also when nothing was left), 1 when
a side failed (each named; what was done is printed too), 2 for a bad spec.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from graphsync import logs
from graphsync.cleanup import CleanupError, cleanup
from graphsync.commands import output, specfile
from graphsync.spec.pipeline import PipelineSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "cleanup", help="remove a pipeline's triggers, engine schema, streams and state; keep the synced data"
    )
    command.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
    output.add_option(command, wide=False)
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    logs.configure("text", logging.WARNING, replace=False)
    return specfile.act_on_file(args, act, "graphsync cleanup")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync cleanup") -> int:
    try:
        report = cleanup(spec)
    except CleanupError as exc:
        return failed(exc, program, lambda summary: output.emit(summary, args.output, report_text))
    output.emit(report.summary(), args.output, report_text)
    return 0


def failed(error: CleanupError, program: str, show: Callable[[dict[str, Any]], None]) -> int:
    """What was removed all the same (`show`n as the command shows a report), then each side that could not be
    cleaned up, on stderr under `program`'s name: exit status 1."""
    show(error.report.summary())
    for side in error.report.errors:
        print(f"{program}: {side}", file=sys.stderr)
    return 1


def report_text(report: Mapping[str, Any], wide: bool = False) -> str:
    """One line per kind of thing removed, then what was kept and why; a run that found nothing left says so.
    From `CleanupReport.summary()` (pure), what `-o json|yaml` gives.

    Failures are not listed: the commands print each on stderr."""
    del wide
    lines = [f"cleanup of pipeline {report['pipeline']}: " + ("removed" if report["removed"] else "nothing to remove")]
    listed = (
        ("capture triggers", "triggers"),
        ("replication slot and publications", "replication"),
        ("engine objects", "schemaObjects"),
        ("streams", "streams"),
        ("consumer groups", "groups"),
        ("redis keys", "keys"),
        ("graphs", "graphs"),
        ("git mirrors", "cache"),
    )
    counted = (
        ("rows of this pipeline", "schemaRows"),
        ("tombstones", "tombstones"),
        ("version marks reset", "versionsReset"),
        ("reconciliation runs", "auditRuns"),
        ("files checkpoints", "checkpoints"),
    )
    rows: dict[str, tuple[int | None, list[str]]] = {
        label: (len(report[key]), report[key]) for label, key in listed
    } | {label: (report[key], []) for label, key in counted}
    rows["engine schema"] = (None, [f"{report['schema']} dropped"] if report["schema"] else [])
    for label in _ORDER:
        count, items = rows[label]
        if count or items:
            number = f"{count:>8,}" if count is not None else " " * 8
            lines.append(f"  {label + ':':<22}{number}  {', '.join(items)}".rstrip())
    lines.extend(f"  kept: {reason}" for reason in report["kept"])
    return "\n".join(lines)


# The order the lines come in: where the pipeline reads, then where it keeps state, then the target.
_ORDER = (
    "capture triggers",
    "replication slot and publications",
    "engine schema",
    "engine objects",
    "rows of this pipeline",
    "streams",
    "consumer groups",
    "redis keys",
    "graphs",
    "tombstones",
    "version marks reset",
    "reconciliation runs",
    "files checkpoints",
    "git mirrors",
)
