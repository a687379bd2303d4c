"""`graphsync reconcile -f pipeline.yaml [--repair]`: compare a pipeline's source and target, optionally repair.

Exit status: 0 when the target matches (or every difference was repaired), 1 when
differences remain or the run failed, 2 for a bad spec or job.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graphsync import logs
from graphsync.commands import output, process, specfile
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome, Report
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser(
        "reconcile", help="compare a pipeline's source and target by bucketed hashes; report or repair differences"
    )
    add_job_arguments(command)
    output.add_option(command, wide=False)
    command.set_defaults(handler=main)


def add_job_arguments(command: argparse.ArgumentParser) -> None:
    """The spec file and the options of one run, which `job_of` reads (shared with the worker's command)."""
    command.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
    command.add_argument("--repair", action="store_true", help="write the differences through the pipeline's sink")
    command.add_argument("--entity", action="append", default=[], help="only this entity type (repeatable)")
    command.add_argument("--id", action="append", default=[], dest="ids", help="only this node key (repeatable)")
    command.add_argument("--buckets", type=int, help="key-range buckets per entity type (default 1024)")
    command.add_argument("--batch-size", type=int, help="entities per repair write (default 2000)")
    command.add_argument("--samples", type=int, help="examples kept per kind of difference (default 10)")


def main(args: argparse.Namespace) -> int:
    logs.configure("text", logging.WARNING, replace=False)
    return specfile.act_on_file(args, act, "graphsync reconcile")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync reconcile") -> int:
    try:
        job = job_of(args)
    except specfile.SpecError as exc:
        return specfile.refuse(program, str(exc))
    stop = process.stop_on_signals()
    try:
        report = reconcile(spec, job, stop)
    except ValueError as exc:
        return specfile.refuse(program, str(exc))
    output.emit(report.summary(), args.output, report_text)
    return status(report)


def status(report: Report) -> int:
    """The exit status of a run: 0 when the target matches or every difference was repaired, else 1."""
    return 0 if report.outcome in (Outcome.IN_SYNC, Outcome.REPAIRED) else 1


def job_of(args: argparse.Namespace) -> ReconcileSpec:
    """The run the options ask for; SpecError naming each option at fault."""
    try:
        return ReconcileSpec.model_validate(job_document(args))
    except ValidationError as exc:
        raise specfile.SpecError(f"invalid options:\n{specfile.format_errors(exc)}") from None


def job_document(args: argparse.Namespace) -> dict[str, Any]:
    """The options as a ReconcileSpec document, so they are validated (and named) like a resource's."""
    ids = [int(value) if value.lstrip("-").isdigit() else value for value in args.ids]
    job: dict[str, Any] = {
        "action": "repair" if args.repair else "report",
        "scope": {"entities": args.entity, "ids": ids},
    }
    for name, value in (("bucketCount", args.buckets), ("batchSize", args.batch_size), ("samples", args.samples)):
        if value is not None:
            job[name] = value
    return job


def report_text(summary: dict[str, Any], wide: bool = False) -> str:
    """A run's summary, a row per entity type with its samples under it (pure)."""
    del wide
    lines = [
        f"reconciliation {summary['id']} of {summary['pipeline']} ({summary['action']}): {summary['outcome']}",
        f"{'entity':<20} {'source':>10} {'target':>10} {'missing':>8} {'extra':>8} {'different':>9}"
        f" {'repaired':>8} {'failed':>6}",
    ]
    for entity in summary["entities"]:
        lines.append(
            f"{entity['entity']:<20} {entity['source']:>10,} {entity['target']:>10,} {entity['missing']:>8,}"
            f" {entity['extra']:>8,} {entity['different']:>9,} {entity['repaired']:>8,} {entity['failed']:>6,}"
        )
        for kind, items in entity["samples"].items():
            for item in items:
                lines.append(f"  {kind}: {json.dumps(item, default=str)}")
    if summary["error"]:
        lines.append(f"error: {summary['error']}")
    return "\n".join(lines)
