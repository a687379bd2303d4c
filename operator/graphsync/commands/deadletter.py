"""`graphsync dlq list|replay` and `graphsync outbox status`: inspecting what a pipeline could not apply."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import asdict
from datetime import datetime
from typing import Any

from graphsync import connect, deadletters, stores, targets
from graphsync.change import Change, Operation
from graphsync.commands import output, specfile
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.connectors.postgres.outbox import EventStatus, Outbox, OutboxEvent
from graphsync.runner.contracts import DeadLetter
from graphsync.runner.poison import apply_isolating
from graphsync.spec.pipeline import Mode, PipelineSpec


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dlq = subparsers.add_parser("dlq", help="list or replay the dead-letter store of a pipeline")
    add_dlq_actions(dlq, specfile.file_option(main))
    outbox = subparsers.add_parser("outbox", help="event status of a pipeline's outbox")
    outbox_actions = outbox.add_subparsers(dest="outbox_command", required=True)
    spec_file = specfile.file_option(main)
    counted = outbox_actions.add_parser("status", help="how many events are pending, published, completed, failed")
    spec_file(counted)
    output.add_option(counted, wide=False)
    events = outbox_actions.add_parser("events", help="the newest events, optionally of one status")
    spec_file(events)
    events.add_argument("--status", choices=[s.value for s in EventStatus])
    events.add_argument("--limit", type=int, default=20)
    output.add_option(events)


def add_dlq_actions(dlq: argparse.ArgumentParser, pipeline: Callable[[argparse.ArgumentParser], None]) -> None:
    """`list` and `replay` with their options; `pipeline` adds how an action names its pipeline (here a spec
    file; `kubectl graphsync dlq` names the SyncPipeline) and its handler, which then calls `act`."""
    dlq_actions = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_actions.add_parser("list", help="records that could not be applied, with the reason")
    pipeline(listing)
    listing.add_argument("--all", action="store_true", help="include records already replayed")
    listing.add_argument("--limit", type=int, default=100)
    output.add_option(listing)
    replay = dlq_actions.add_parser("replay", help="send records back through the pipeline")
    pipeline(replay)
    replay.add_argument("--id", type=int, action="append", dest="ids", help="only these records (repeatable)")


def main(args: argparse.Namespace) -> int:
    return specfile.act_on_file(args, act, "graphsync")


def act(spec: PipelineSpec, args: argparse.Namespace, program: str = "graphsync") -> int:
    """The dlq or outbox action `args` names, on the pipeline `spec`; errors begin with `program`."""
    try:
        if getattr(args, "dlq_command", None) == "list":
            # The same read a worker's /deadletters makes (`deadletters.listed`).
            found = deadletters.listed(spec, include_replayed=args.all, limit=args.limit)
            output.emit(letters_data(found), args.output, letters_text)
            return 0
        if spec.source.graph is not None:
            if not getattr(args, "dlq_command", None):
                raise ValueError("outbox: a graph source has no outbox")
            return _graph_dead_letters(spec, args)
        conn = connect.postgres(spec.postgres, autocommit=True)
    except ValueError as exc:
        return specfile.refuse(program, str(exc))
    with conn:
        if getattr(args, "dlq_command", None):
            store = PostgresDeadLetters(conn, pipeline=spec.identity, schema=spec.postgres.schema_)
            return _postgres_dead_letters(spec, store, args, program)
        box = Outbox(spec.postgres.schema_, pipeline=spec.identity)
        if args.outbox_command == "status":
            counts = {status.value: count for status, count in box.counts(conn).items()}
            output.emit(counts, args.output, counts_text)
            return 0
        chosen = EventStatus(args.status) if args.status else None
        output.emit(events_data(box.events(conn, status=chosen, limit=args.limit)), args.output, events_text)
        return 0


def _postgres_dead_letters(
    spec: PipelineSpec, store: PostgresDeadLetters, args: argparse.Namespace, program: str
) -> int:
    """Replay: back through the outbox, or through the sink where the pipeline reads no outbox."""
    if spec.mode in (Mode.SNAPSHOT, Mode.INCREMENTAL):
        return _replay_through_sink(spec, store, args.ids, program)
    print(f"replayed {store.replay(args.ids)} record(s)")
    return 0


def _replay_through_sink(
    spec: PipelineSpec, store: PostgresDeadLetters, ids: Sequence[int] | None, program: str
) -> int:
    """Snapshot and incremental pipelines read no outbox, so a record sent back through it would wait there
    for ever: they are applied through the pipeline's sink here, and only those it took are marked replayed;
    exit 1 when some are refused again (they stay open, named)."""
    letters = [letter for letter in store.list(limit=2**31) if not ids or letter.id in ids]
    changes = [
        Change(letter.entity_type, letter.entity_key, Operation(letter.operation), letter.version, letter.payload)
        for letter in letters
    ]
    with ExitStack() as stack:
        sink = targets.sink(spec, stack)
        sink.prepare()
        _, refused = apply_isolating(sink, changes)
    again = {id(rejection.change): rejection.reason for rejection in refused}
    store.mark_replayed([letter.id for letter, change in zip(letters, changes, strict=True) if id(change) not in again])
    print(f"replayed {len(letters) - len(again)} record(s)")
    for letter, change in zip(letters, changes, strict=True):
        if id(change) in again:
            print(f"{program}: #{letter.id} refused again: {again[id(change)]}", file=sys.stderr)
    return 1 if again else 0


def _graph_dead_letters(spec: PipelineSpec, args: argparse.Namespace) -> int:
    """A graph pipeline keeps its dead letters with its state (see stores.state_of); replaying applies them
    through its sink again."""
    with ExitStack() as stack:
        store = stores.state_of(spec, stack).dead_letters
        sink = targets.sink(spec, stack)
        sink.prepare()
        print(f"replayed {store.replay(sink.apply, args.ids)} record(s)")
        return 0


def letters_data(letters: Sequence[DeadLetter]) -> list[dict[str, Any]]:
    """Dead letters as `-o json|yaml` gives them (the worker's /deadletters too): camelCase, times in ISO 8601."""
    return [output.camel_keys(asdict(letter)) | _times(letter.failed_at, letter.replayed_at) for letter in letters]


def _times(failed: datetime, replayed: datetime | None) -> dict[str, Any]:
    return {"failedAt": failed.isoformat(), "replayedAt": replayed.isoformat() if replayed else None}


def letters_text(letters: Sequence[Mapping[str, Any]], wide: bool) -> str:
    """A row per dead letter, why it failed last (pure); wide adds attempts, when it failed and where it came from."""
    if not letters:
        return "no dead letters"
    headers = ["ID", "ENTITY", "KEY", "VERSION", "OPERATION", "REPLAYED"]
    headers += ["ATTEMPTS", "FAILED", "ORIGIN"] if wide else []
    rows = []
    for letter in letters:
        row = [
            str(letter["id"]),
            letter["entityType"],
            json.dumps(letter["entityKey"]),
            str(letter["version"]),
            letter["operation"],
            _minute(letter.get("replayedAt")),
        ]
        row += [str(letter["attempts"]), _minute(letter["failedAt"]), output.cell(letter.get("origin"))] if wide else []
        rows.append([*row, letter["reason"]])
    return "\n".join(output.table([*headers, "REASON"], rows))


def _minute(moment: str | None) -> str:
    """An ISO time to the minute, as a person reads it in a table."""
    return moment[:16].replace("T", " ") if moment else output.EMPTY


def counts_text(counts: Mapping[str, int], wide: bool) -> str:
    del wide
    return "\n".join(f"{status:<10} {count:>10,}" for status, count in counts.items())


def events_data(events: Sequence[OutboxEvent]) -> list[dict[str, Any]]:
    return [
        output.camel_keys(asdict(event))
        | {"operation": event.operation.value, "status": event.status.value, "createdAt": event.created_at.isoformat()}
        for event in events
    ]


def events_text(events: Sequence[Mapping[str, Any]], wide: bool) -> str:
    """A row per outbox event, newest first (pure); wide adds when it was written and its correlation id."""
    if not events:
        return "no events"
    headers = ["ID", "STATUS", "ENTITY", "KEY", "VERSION", "OPERATION", "ATTEMPTS"]
    headers += ["CREATED", "CORRELATION"] if wide else []
    rows = []
    for event in events:
        row = [
            str(event["id"]),
            event["status"],
            event["entityType"],
            json.dumps(event["entityKey"]),
            str(event["version"]),
            event["operation"],
            str(event["attempts"]),
        ]
        row += [_minute(event["createdAt"]), output.cell(event.get("correlationId"))] if wide else []
        rows.append([*row, output.cell(event.get("lastError"))])
    return "\n".join(output.table([*headers, "LAST ERROR"], rows))
