"""Applying a batch so that a record the sink refuses fails alone: the whole batch first, then halves, down
to single records, each refused one with its reason. Every writer of the engine goes through here."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphsync.change import ApplyResult, Change
from graphsync.pipeline.contracts import Rejection, Sink
from graphsync.pipeline.retry import Interrupted

Attempt = Callable[[Callable[[], ApplyResult]], ApplyResult]


def apply_isolating(
    sink: Sink, changes: Sequence[Change], *, attempt: Attempt | None = None, staged: Any = None
) -> tuple[ApplyResult, list[Rejection]]:
    """`attempt` runs one apply (the runner's retries transient errors); a transient error that still
    escapes it is raised, not blamed on a record."""
    if not changes:
        return ApplyResult(), []

    def apply() -> ApplyResult:
        return sink.apply(changes, staged)

    try:
        return (attempt(apply) if attempt is not None else apply()), []
    except Interrupted:
        raise
    except Exception as exc:
        if sink.is_transient(exc):
            raise
        if len(changes) == 1:
            return ApplyResult(), [Rejection(changes[0], f"{type(exc).__name__}: {exc}")]
        middle = len(changes) // 2
        left, left_failed = apply_isolating(sink, changes[:middle], attempt=attempt)
        right, right_failed = apply_isolating(sink, changes[middle:], attempt=attempt)
        return left + right, left_failed + right_failed
