"""`graphsync conflicts list|show|resolve`: the conflicts a manual policy holds in a bidirectional pipeline."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from graphsync import codec, stores
from graphsync.commands import output, specfile
from graphsync.compare.entries import changed_fields
from graphsync.conflicts.held import HeldConflict
from graphsync.pipelines import bidirectional
from graphsync.spec import identifiers
from graphsync.spec.pipeline import Mode, PipelineSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("conflicts", help="list, show or resolve conflicts held for manual review")
    add_actions(command, specfile.file_option(main))


def add_actions(command: argparse.ArgumentParser, pipeline: Callable[[argparse.ArgumentParser], None]) -> None:
    """The actions and their options; `pipeline` adds how an action names its pipeline (here a spec file;
    `kubectl graphsync conflicts` names the SyncPipeline) and its handler, which then calls `act`."""
    actions = command.add_subparsers(dest="conflicts_command", required=True)
    listing = actions.add_parser("list", help="open conflicts, oldest first")
    pipeline(listing)
    listing.add_argument("--all", action="store_true", help="include resolved ones")
    show = actions.add_parser("show", help="both versions of one conflict, the base, and what differs")
    pipeline(show)
    show.add_argument("id")
    resolve = actions.add_parser("resolve", help="write the chosen version to both sides")
    pipeline(resolve)
    resolve.add_argument("id")
    chosen = resolve.add_mutually_exclusive_group(required=True)
    chosen.add_argument("--take", choices=("source", "target"), help="keep one side's version (absent: deleted)")
    chosen.add_argument("--data", type=Path, help="a JSON file with the properties to keep on both sides")
    resolve.add_argument(
        "--by", help="who resolves it, kept in the record (default: you, as this machine or the cluster knows you)"
    )
    resolve.add_argument("--note", help="why, kept in the record")
    output.add_option(listing)
    output.add_option(show, wide=False)
    # What a resolution did is said in one line; --json stays accepted (and ignored) as it always was.
    resolve.add_argument("--json", action="store_true", help=argparse.SUPPRESS)


def main(args: argparse.Namespace) -> int:
    return specfile.act_on_file(args, act, "graphsync conflicts")


def act(
    spec: PipelineSpec,
    args: argparse.Namespace,
    program: str = "graphsync conflicts",
    user: Callable[[], str] = getpass.getuser,
) -> int:
    """The action `args` names (as `add_actions` parsed it) on the pipeline `spec`; errors begin with `program`.
    A resolution is recorded as `--by`, or else as `user()`."""
    try:
        if spec.mode is not Mode.BIDIRECTIONAL:
            raise ValueError(f"mode: conflicts are held by bidirectional pipelines, and this one is {spec.mode.value}")
        data = _data(args.data) if getattr(args, "data", None) else None
    except ValueError as exc:
        print(f"{program}: {exc}", file=sys.stderr)
        return 2
    if args.conflicts_command == "resolve":
        by = args.by or user()
        return _resolve(spec, args.id, _Choice(args.take or "data", data, by, args.note), program)
    with ExitStack() as stack:
        _, store = stores.bidirectional_state(spec, stack)
        if args.conflicts_command == "list":
            output.emit([record(c) for c in store.list(include_resolved=args.all)], args.output, list_text)
            return 0
        conflict = store.get(args.id)
    if conflict is None:
        print(f"{program}: no conflict {args.id!r} in pipeline {spec.identity}", file=sys.stderr)
        return 1
    output.emit(record(conflict), args.output, show_text)
    return 0


@dataclass(frozen=True)
class _Choice:
    """What a person chose for a conflict (a side, or `data`), who they are and why."""

    take: str
    data: dict[str, Any] | None
    by: str
    note: str | None


def _resolve(spec: PipelineSpec, conflict: str, choice: _Choice, program: str) -> int:
    with ExitStack() as stack:
        pair = bidirectional.TwoWay(spec, stack)
        held = pair.conflicts.get(conflict)
        if held is None or held.status != "open":
            print(f"{program}: no open conflict {conflict!r} in pipeline {spec.identity}", file=sys.stderr)
            return 1
        pair.settle(conflict, choice.take, choice.data, by=choice.by, note=choice.note)
    print(f"resolved {conflict} ({held.entity} {json.dumps(held.key)}): {choice.take}, by {choice.by}")
    return 0


def _data(path: Path) -> dict[str, Any]:
    """The properties to keep, from a JSON object whose keys are property names."""
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"--data {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"--data {path}: not JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ValueError(f"--data {path}: expected a JSON object of properties")
    for name in document:
        try:
            identifiers.check(name)
        except ValueError as exc:
            raise ValueError(f"--data {path}: property {name!r}: {exc}") from exc
    return {name: codec.untagged(value) for name, value in document.items()}


def record(conflict: HeldConflict) -> dict[str, Any]:
    """A conflict as `-o json|yaml` gives it: its own keys in camelCase, each side's properties tagged (a date
    stays a date) under the names they have in the databases."""
    found = output.camel_keys(codec.tagged(asdict(conflict)))
    # What differs, named apart from the values: a worker serves it without them (graphsync_operator.worker.inspection).
    deleted = "source" if conflict.source is None else "target" if conflict.target is None else None
    return found | {"differs": changed_fields(conflict.source or {}, conflict.target or {}), "deletedOn": deleted}


def list_text(held: Sequence[Mapping[str, Any]], wide: bool) -> str:
    """A row per conflict, what differs last (pure); wide adds why it is held and how it was settled."""
    if not held:
        return "no conflicts"
    headers = ["ID", "ENTITY", "KEY", "STATUS", "DETECTED"] + (["REASON", "RESOLVED BY", "CHOICE"] if wide else [])
    rows = []
    for conflict in held:
        deleted = conflict.get("deletedOn")
        differs = f"deleted on {deleted}" if deleted else ", ".join(conflict["differs"])
        row = [conflict["id"], conflict["entity"], json.dumps(conflict["key"]), conflict["status"]]
        row.append(conflict["detectedAt"])
        if wide:
            row += [conflict.get("reason") or output.EMPTY, output.cell(conflict.get("resolvedBy"))]
            row.append(output.cell(conflict.get("choice")))
        rows.append([*row, differs])
    return "\n".join(output.table([*headers, "DIFFERS"], rows))


def show_text(conflict: Mapping[str, Any], wide: bool) -> str:
    """Both sides, the base and what differs, a line each (pure)."""
    del wide
    lines = [
        f"conflict {conflict['id']}: {conflict['entity']} {json.dumps(conflict['key'])} ({conflict['status']})",
        f"detected {conflict['detectedAt']}"
        + (
            f", resolved {conflict['resolvedAt']} by {conflict['resolvedBy']}: {conflict['choice']}"
            if conflict.get("resolvedAt")
            else ""
        ),
        *([f"note:    {conflict['note']}"] if conflict.get("note") else []),
    ]
    for side in ("source", "target", "base"):
        if side not in conflict:
            lines.append(f"{side + ':':<8} (the worker does not serve values: --direct reads them)")
            continue
        value = conflict[side]
        shown = json.dumps(value, sort_keys=True) if value is not None else "(absent)"
        lines.append(f"{side + ':':<8} {shown}")
    lines.append("differs: " + ", ".join(conflict["differs"]))
    return "\n".join(lines)
