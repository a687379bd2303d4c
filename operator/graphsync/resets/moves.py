"""What a checkpoint reset does to one position, worked out before it is applied.

A move is planned once (`Position.plan`), recorded with the absolute position it leads to, then applied
(`Position.apply`). Applying the recorded move again leads to the same position, so a worker that dies between
the record and the end of the apply applies it again on its next start without reading or skipping twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from graphsync.spec.resets import CheckpointReset


@dataclass(frozen=True)
class Move:
    """The position before and after (JSON-able, as `graphsync checkpoints` shows them), how many changes it
    reads again or skips (None when the position does not count changes) and what it does in words."""

    before: Any
    after: Any
    moved: int | None
    message: str


class Refused(ValueError):
    """A reset the position cannot carry out; the message says why and what to do instead."""


class Position(Protocol):
    def plan(self, reset: CheckpointReset) -> Move: ...

    def apply(self, reset: CheckpointReset, move: Move) -> None: ...
