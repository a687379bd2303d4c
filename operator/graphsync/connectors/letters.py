"""Dead-letter records as the graph pipelines' stores keep them (FalkorDB's Redis, or a target graph):
one JSON document per record, the same in both (pure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from graphsync.change import ApplyResult, Change, Operation
from graphsync.runner.contracts import DeadLetter, Rejection


def record_of(rejection: Rejection, now: str) -> dict[str, Any]:
    change = rejection.change
    return {
        "entity_type": change.entity,
        "entity_key": change.key,
        "operation": change.op.value,
        "payload": dict(change.data),
        "version": change.version,
        "origin": change.origin,
        "reason": rejection.reason,
        "attempts": rejection.attempts,
        "failed_at": now,
        "replayed_at": None,
    }


def letter_of(ident: int, record: dict[str, Any]) -> DeadLetter:
    replayed = record.get("replayed_at")
    return DeadLetter(
        id=ident,
        entity_type=record["entity_type"],
        entity_key=record["entity_key"],
        operation=record["operation"],
        payload=record["payload"],
        version=int(record["version"]),
        origin=record.get("origin"),
        reason=record["reason"],
        attempts=int(record["attempts"]),
        failed_at=datetime.fromisoformat(record["failed_at"]),
        replayed_at=datetime.fromisoformat(replayed) if replayed else None,
    )


def replayed_record(letter: DeadLetter, now: str) -> dict[str, Any]:
    return {
        "entity_type": letter.entity_type,
        "entity_key": letter.entity_key,
        "operation": letter.operation,
        "payload": letter.payload,
        "version": letter.version,
        "origin": letter.origin,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "failed_at": letter.failed_at.isoformat(),
        "replayed_at": now,
    }


def replay(
    open_letters: Sequence[DeadLetter], apply: Callable[[Sequence[Change]], ApplyResult], ids: Sequence[int] | None
) -> list[DeadLetter]:
    """Apply the open records chosen by `ids` (all when none) again; the ones applied, for the store to mark."""
    chosen = [letter for letter in open_letters if not ids or letter.id in ids]
    if chosen:
        apply(
            [
                Change(
                    letter.entity_type, letter.entity_key, Operation(letter.operation), letter.version, letter.payload
                )
                for letter in chosen
            ]
        )
    return chosen
