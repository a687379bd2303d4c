"""The contracts every connector implements; the conformance suite in tests/ checks each one.

Hooks, in the order the runner calls them:
- `Sink.prepare()` once (constraints, indexes); `Source.prepare()` once (groups, tables).
- `Source.read(limit)` returns a `Batch`, possibly empty; it may block briefly.
- `Sink.stage(changes)` prepares a batch's parameters (pure CPU work, may raise for a
  bad record); the runner calls it on the reader thread, so it overlaps the write of
  the batch before.
- `Sink.apply(changes, staged)` commits them and only then returns; it must be idempotent
  and version-guarded, so a batch applied twice or out of order converges. `staged` is
  what `stage` returned for exactly these changes, or None (then apply stages itself).
- `Source.commit(batch, failed)` checkpoints the batch (ack, mark, save watermark)
  only after the sink committed it; `failed` are the records sent to the dead-letter store.
- `Source.close()` / `Sink.close()` release connections.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from graphsync.change import ApplyResult, Change


@dataclass(frozen=True)
class Rejection:
    """A record that cannot be applied, with the reason; it goes to the dead-letter store."""

    change: Change
    reason: str
    attempts: int = 1


@dataclass
class Batch:
    changes: list[Change]
    # Whatever the source needs to checkpoint this batch (entry ids, a watermark).
    token: Any = None
    # Records the source could not even decode.
    rejected: list[Rejection] = field(default_factory=list)
    # A finite source (a snapshot) sets this on its last batch.
    final: bool = False
    # What the sink staged for these changes, ahead of applying them.
    staged: Any = None
    # What the staged writes lock on the target (see runner.RunOptions.footprint); None: not known.
    locks: frozenset[Hashable] | None = None
    # Not from the source: the reader asks the writer to see whether the target answers (see RunOptions).
    probe: bool = False
    # (when it committed, how many changes) of each source transaction in the batch, where the source knows
    # (logical capture): what the commit-to-visible latency is measured from once the target committed them.
    committed: tuple[tuple[float, int], ...] = ()

    @property
    def idle(self) -> bool:
        """Nothing to apply and nothing to checkpoint: the source had nothing new."""
        return not self.changes and not self.rejected and self.token is None and not self.probe


class Source(Protocol):
    def prepare(self) -> None: ...
    def read(self, limit: int) -> Batch: ...
    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None: ...
    def close(self) -> None: ...


class Sink(Protocol):
    def prepare(self) -> None: ...
    def stage(self, changes: Sequence[Change]) -> Any: ...
    def apply(self, changes: Sequence[Change], staged: Any = None) -> ApplyResult: ...
    def is_transient(self, error: BaseException) -> bool: ...
    # The cheapest round trip that proves the target answers; raises like apply would.
    def ping(self) -> None: ...
    # A write that touches no data; raises when the target refuses writes as a whole (see pipeline.poison).
    def canary(self) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class DeadLetter:
    """A record in a dead-letter store, as `dlq list` shows it."""

    id: int
    entity_type: str
    entity_key: Any
    operation: str
    payload: dict[str, Any]
    version: int
    origin: str | None
    reason: str
    attempts: int
    failed_at: datetime
    replayed_at: datetime | None


class DeadLetters(Protocol):
    def record(self, rejections: Sequence[Rejection]) -> None: ...


class Checkpoints(Protocol):
    """Named, JSON-serialisable positions of one pipeline, stored durably."""

    def get(self, name: str) -> Any: ...
    def put(self, name: str, value: Any) -> None: ...
    def delete(self, name: str) -> None: ...
    def all(self) -> dict[str, Any]: ...
