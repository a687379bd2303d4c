"""Applying a batch so that a record the sink refuses fails alone: the whole batch first, then halves, down
to single records, each refused one with its reason. Every writer of the engine goes through here.

A target can refuse every write for reasons no record is to blame for: a read-only replica or database, a
server out of memory, a rotated password, a revoked role. No driver classifies all of those as transient,
and bisecting under them would dead-letter every record that flows while the fault lasts. So before a
refusal is blamed on records (the whole batch failing, or a single record about to be dead-lettered) the
sink writes a canary that touches no data: when that fails too, the target is unavailable, the error is a
transient `TargetUnavailable` the caller's retries wait out, and nothing is dead-lettered.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from graphsync.change import ApplyResult, Change
from graphsync.runner.contracts import Rejection, Sink
from graphsync.runner.retry import Interrupted

Attempt = Callable[[Callable[[], ApplyResult]], ApplyResult]


class TargetUnavailable(ConnectionError):
    """The target refuses a write that touches no data: no record is to blame, the batch waits."""


def apply_isolating(
    sink: Sink, changes: Sequence[Change], *, attempt: Attempt | None = None, staged: Any = None
) -> tuple[ApplyResult, list[Rejection]]:
    """`attempt` runs one apply (the runner's retries transient errors); a transient error that still
    escapes it is raised, not blamed on a record."""
    return _isolating(sink, changes, attempt=attempt, staged=staged, top=True)


def _isolating(
    sink: Sink, changes: Sequence[Change], *, attempt: Attempt | None, staged: Any, top: bool
) -> tuple[ApplyResult, list[Rejection]]:
    if not changes:
        return ApplyResult(), []
    # The canary runs where a refusal would cost most: before the first split, and before a dead letter.
    vouch = top or len(changes) == 1

    def apply() -> ApplyResult:
        try:
            return sink.apply(changes, staged)
        except Exception as exc:
            if vouch and not sink.is_transient(exc):
                _vouch_for_target(sink, exc)
            raise

    try:
        return (attempt(apply) if attempt is not None else apply()), []
    except Interrupted:
        raise
    except Exception as exc:
        if sink.is_transient(exc) or isinstance(exc, TargetUnavailable):
            raise
        if len(changes) == 1:
            return ApplyResult(), [Rejection(changes[0], f"{type(exc).__name__}: {exc}")]
        middle = len(changes) // 2
        left, left_failed = _isolating(sink, changes[:middle], attempt=attempt, staged=None, top=False)
        right, right_failed = _isolating(sink, changes[middle:], attempt=attempt, staged=None, top=False)
        return left + right, left_failed + right_failed


def _vouch_for_target(sink: Sink, refusal: Exception) -> None:
    """Raise TargetUnavailable unless the target takes a write that no record is part of."""
    try:
        sink.canary()
    except Exception as exc:  # noqa: BLE001 - whatever the canary meets, the target is what fails
        raise TargetUnavailable(
            f"the target refuses every write ({type(exc).__name__}: {exc}); the batch failed with"
            f" {type(refusal).__name__}: {refusal}"
        ) from refusal
