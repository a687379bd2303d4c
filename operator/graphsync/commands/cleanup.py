"""`graphsync cleanup -f pipeline.yaml [--json]`: remove what a pipeline created outside Kubernetes, keep its data.

Exit status: 0 when everything is cleaned up (also when nothing was left), 1 when
a side failed (each named; what was done is printed too), 2 for a bad spec.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from graphsync.cleanup import CleanupError, CleanupReport, cleanup
from graphsync.commands import specfile


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "cleanup", help="remove a pipeline's triggers, engine schema, streams and state; keep the synced data"
    )
    command.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
    command.add_argument("--json", action="store_true", help="print what was removed as JSON")
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        spec = specfile.load(args.file)
    except specfile.SpecError as exc:
        print(f"graphsync cleanup: {exc}", file=sys.stderr)
        return 2
    try:
        report = cleanup(spec)
    except CleanupError as exc:
        print(json.dumps(exc.report.summary(), indent=2) if args.json else report_text(exc.report))
        for error in exc.report.errors:
            print(f"graphsync cleanup: {error}", file=sys.stderr)
        return 1
    print(json.dumps(report.summary(), indent=2) if args.json else report_text(report))
    return 0


def report_text(report: CleanupReport) -> str:
    """One line per kind of thing removed, then what was kept and why; a run that found nothing left says so.

    Failures are not listed: the commands print each on stderr."""
    lines = [f"cleanup of pipeline {report.pipeline}: " + ("removed" if report.removed else "nothing to remove")]
    rows: list[tuple[str, int | None, list[str]]] = [
        ("capture triggers", len(report.triggers), report.triggers),
        ("replication slot and publications", len(report.replication), report.replication),
        ("engine schema", None, [f"{report.schema} dropped"] if report.schema else []),
        ("engine objects", len(report.schema_objects), report.schema_objects),
        ("rows of this pipeline", report.schema_rows, []),
        ("streams", len(report.streams), report.streams),
        ("consumer groups", len(report.groups), report.groups),
        ("redis keys", len(report.keys), report.keys),
        ("graphs", len(report.graphs), report.graphs),
        ("tombstones", report.tombstones, []),
        ("version marks reset", report.versions_reset, []),
        ("reconciliation runs", report.audit_runs, []),
        ("files checkpoints", report.checkpoints, []),
        ("git mirrors", len(report.cache), report.cache),
    ]
    for label, count, items in rows:
        if count or items:
            number = f"{count:>8,}" if count is not None else " " * 8
            lines.append(f"  {label + ':':<22}{number}  {', '.join(items)}".rstrip())
    lines.extend(f"  kept: {reason}" for reason in report.kept)
    return "\n".join(lines)
