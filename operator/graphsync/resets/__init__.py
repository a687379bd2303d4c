"""Applying a pipeline's checkpoint resets (what they are: `graphsync.spec.resets`).

A worker applies them when it starts, before it reads anything: the spec change that declares one rolls the
workers (their Deployment is replaced, never two at once), so the pipeline pauses, the new worker applies the
reset, then resumes from the new position. Which resets are applied is kept in the target
(`GraphsyncCheckpointReset` records beside the run records; for FalkorDB in `<graph>__graphsync_audit`), so
each is applied once per name. A reset is recorded with the position it leads to before it is applied, so one
cut short by the worker's end is finished by the next start, moving to the same position (never twice as far).
"""

from __future__ import annotations

import enum
import json
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from graphsync import connect, stores
from graphsync.connectors import cypher
from graphsync.connectors.graphs.reading import Store
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.reconcile import audit
from graphsync.reconcile.pipeline import audit_store, graph_store
from graphsync.resets.groups import Groups
from graphsync.resets.moves import Move, Position, Refused
from graphsync.resets.rows import FilesCommit, Rows
from graphsync.resets.slot import SlotPosition
from graphsync.runner.retry import Backoff, Interrupted
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.resets import FILES, SLOT, STREAM, CheckpointReset

log = logging.getLogger(__name__)

_LABEL = cypher.labels(["GraphsyncCheckpointReset"])
RECORD = cypher.render(audit.RECORD_TEMPLATE, label=_LABEL)
LIST = cypher.render(audit.LIST_TEMPLATE, label=_LABEL)
RECORDS_READ = 1000
# Held for the session: released when its connection closes, also by a process that dies.
_LOCK = "SELECT pg_advisory_lock(hashtext('graphsync.resets'), hashtext(%s))"
# What the status shows of a position before and after (JSON text).
SHOWN = 300


class Phase(enum.StrEnum):
    PENDING = "Pending"
    # Recorded with where it leads, not yet applied in full (the worker ended meanwhile).
    APPLYING = "Applying"
    APPLIED = "Applied"
    # Not carried out: the message says why (a slot cannot go back, a watermark of the wrong shape, ...).
    REFUSED = "Refused"


DONE = (Phase.APPLIED, Phase.REFUSED)


@dataclass
class Outcome:
    """One reset as the status shows it."""

    name: str
    checkpoint: str
    phase: Phase = Phase.PENDING
    moved: int | None = None
    message: str | None = None
    before: Any = None
    after: Any = None
    applied_at: str | None = None

    def summary(self) -> dict[str, Any]:
        shown = {
            "name": self.name,
            "checkpoint": self.checkpoint,
            "phase": self.phase.value,
            "moved": self.moved,
            "message": self.message,
            "before": None if self.before is None else _text(self.before)[:SHOWN],
            "after": None if self.after is None else _text(self.after)[:SHOWN],
            "appliedAt": self.applied_at,
        }
        return {key: value for key, value in shown.items() if value is not None}

    def move(self) -> Move:
        return Move(self.before, self.after, self.moved, self.message or "")


def from_record(row: Mapping[str, Any]) -> Outcome:
    """A stored record as an outcome (pure)."""
    return Outcome(
        name=str(row["name"]),
        checkpoint=str(row["checkpoint"]),
        phase=Phase(str(row.get("phase", Phase.PENDING))),
        moved=None if row.get("moved") is None else int(row["moved"]),
        message=row.get("message"),
        before=json.loads(row["before"]) if row.get("before") else None,
        after=json.loads(row["after"]) if row.get("after") else None,
        applied_at=row.get("appliedAt"),
    )


def records(store: Store, pipeline: str) -> dict[str, Outcome]:
    """The pipeline's resets as its target's records say, by name."""
    [[rows]] = store.read(LIST, {"pipeline": pipeline, "limit": RECORDS_READ})
    return {str(row["name"]): from_record(row) for row in rows}


def apply_all(
    spec: PipelineSpec, stop: threading.Event, on_progress: Callable[[list[dict[str, Any]]], None] | None = None
) -> list[Outcome]:
    """Apply every reset of the spec not yet applied, in order; a side out of reach is waited for (the pipeline
    must not read from a position about to move). Returns every declared reset's outcome."""
    outcomes = [Outcome(reset.name, reset.checkpoint) for reset in spec.checkpoint_resets]
    backoff = Backoff()
    attempt = 0
    while True:
        try:
            _apply(spec, outcomes, on_progress)
            return outcomes
        except Exception as exc:  # noqa: BLE001 - said in the status and tried again
            pending = next((o for o in outcomes if o.phase not in DONE), None)
            log.warning("checkpoint resets: %s: %s (tried again)", type(exc).__name__, exc)
            if pending is not None:
                pending.message = f"not applied yet, tried again: {type(exc).__name__}: {exc}"
            _tell(outcomes, on_progress)
        try:
            backoff.wait(attempt, stop)
        except Interrupted:
            return outcomes
        attempt += 1


def _apply(
    spec: PipelineSpec, outcomes: list[Outcome], on_progress: Callable[[list[dict[str, Any]]], None] | None
) -> None:
    with ExitStack() as stack:
        if spec.source.postgres is not None:
            # Replicas start together: one applies the resets, the others then read that it did (a forward
            # skip planned after another replica began consuming would skip more than asked).
            lock = stack.enter_context(connect.postgres(spec.source.postgres, autocommit=True))
            lock.execute(_LOCK, (spec.identity,))
        store = audit_store(spec, stack)
        known = records(store, spec.identity)
        for index, reset in enumerate(spec.checkpoint_resets):
            outcomes[index] = known.get(reset.name) or outcomes[index]
        _tell(outcomes, on_progress)
        for index, reset in enumerate(spec.checkpoint_resets):
            if outcomes[index].phase in DONE:
                continue
            outcomes[index] = _one(spec, reset, outcomes[index], store, stack)
            _tell(outcomes, on_progress)


def _one(spec: PipelineSpec, reset: CheckpointReset, outcome: Outcome, store: Store, stack: ExitStack) -> Outcome:
    position = position_of(spec, reset, stack)
    if outcome.phase is Phase.APPLYING:
        move = outcome.move()
    else:
        try:
            move = position.plan(reset)
        except Refused as exc:
            log.warning("checkpoint reset %s of %s refused: %s", reset.name, reset.checkpoint, exc)
            refused = Outcome(reset.name, reset.checkpoint, Phase.REFUSED, message=str(exc), applied_at=_now())
            _record(store, spec, refused)
            return refused
        _record(store, spec, _outcome(reset, move, Phase.APPLYING))
    position.apply(reset, move)
    applied = _outcome(reset, move, Phase.APPLIED)
    _record(store, spec, applied)
    log.info("checkpoint reset %s of %s applied: %s", reset.name, reset.checkpoint, move.message)
    return applied


def position_of(spec: PipelineSpec, reset: CheckpointReset, stack: ExitStack) -> Position:
    """Where the reset's position is kept, its connections closed with `stack`."""
    if reset.checkpoint == FILES:
        return FilesCommit(graph_store(spec, stack), spec.identity)
    if spec.source.graph is not None:
        return Rows(stores.state_of(spec, stack).checkpoints)
    postgres = spec.postgres
    conn = stack.enter_context(connect.postgres(postgres, autocommit=True))
    pg_schema.migrate(conn, postgres.schema_)
    if reset.checkpoint == SLOT:
        return SlotPosition(spec, conn)
    if reset.checkpoint == STREAM:
        return Groups(spec, stack.enter_context(connect.redis_client(spec.redis_streams)), conn)
    return Rows(PostgresCheckpoints(conn, pipeline=spec.identity, schema=postgres.schema_))


def _outcome(reset: CheckpointReset, move: Move, phase: Phase) -> Outcome:
    return Outcome(reset.name, reset.checkpoint, phase, move.moved, move.message, move.before, move.after, _now())


def _record(store: Store, spec: PipelineSpec, outcome: Outcome) -> None:
    record = {
        "pipeline": spec.identity,
        "name": outcome.name,
        "checkpoint": outcome.checkpoint,
        "phase": outcome.phase.value,
        "moved": outcome.moved,
        "message": outcome.message,
        "before": _text(outcome.before),
        "after": _text(outcome.after),
        "startedAt": outcome.applied_at,
        "appliedAt": outcome.applied_at,
    }
    store.write(RECORD, {"id": f"{spec.identity}:{outcome.name}", "run": record})


def _tell(outcomes: list[Outcome], on_progress: Callable[[list[dict[str, Any]]], None] | None) -> None:
    if on_progress is not None:
        on_progress([outcome.summary() for outcome in outcomes])


def _text(value: Any) -> str:
    return json.dumps(value, default=str, separators=(",", ":"))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
