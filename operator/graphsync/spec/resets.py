"""Checkpoint resets: one of a pipeline's positions set back (its changes read again) or forward (skipped),
declared in the pipeline's spec. The worker applies each once per name before it reads anything, so the
pipeline pauses (its workers roll), applies it, and resumes from the new position (`graphsync.resets`).

The positions are those `graphsync checkpoints` lists:
- `stream`: the consumer group of a trigger or outbox pipeline's Redis streams: `back: N` reads the last N
  changes again, `forward: N` skips the next N (they are marked done in the outbox, never published again),
  `to: start` reads everything the streams still hold again, `to: end` skips everything captured so far;
- `slot`: a logical pipeline's replication slot: `forward: N` skips the next N changes (whole transactions),
  `to: end` everything committed so far, `to: <LSN>` up to that position. A slot cannot go back: PostgreSQL
  frees the WAL behind it (to read entities again, declare a backfill);
- `snapshot`: `to: start` reads the source again in full on the next run;
- `watermark:<entity>`: (incremental modes) `to: start` reads the entity type again from its first row,
  `to: <JSON>` sets the watermark to a value as the listing shows it (e.g. `["2026-12-01T00:00:00+00:00", 0]`);
- `files`: (incremental mode) `to: start` compares every file again on the next run.
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, model_validator

from graphsync.spec.base import SpecModel
from graphsync.spec.identifiers import Identifier

STREAM, SLOT, SNAPSHOT, FILES = "stream", "slot", "snapshot", "files"
WATERMARK_PREFIX = "watermark:"
START, END = "start", "end"
CHECKPOINT_PATTERN = r"^(stream|slot|snapshot|files|watermark:[A-Za-z_][A-Za-z0-9_]{0,62})$"
LSN_PATTERN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")


class CheckpointReset(SpecModel):
    name: Identifier = Field(description="names the reset: it is applied once, a new name applies again")
    checkpoint: str = Field(
        pattern=CHECKPOINT_PATTERN,
        description="which position: stream, slot, snapshot, files or watermark:<entity>",
    )
    back: int | None = Field(default=None, ge=1, le=100_000_000, description="stream: read the last N changes again")
    forward: int | None = Field(default=None, ge=1, le=100_000_000, description="stream or slot: skip the next N")
    to: str | None = Field(
        default=None,
        min_length=1,
        max_length=1000,
        description="start, end, an LSN (slot) or a watermark's JSON value, as `checkpoints` lists them",
    )

    @model_validator(mode="after")
    def _one_move(self) -> Self:
        given = [name for name in ("back", "forward", "to") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of back, forward or to (given: {', '.join(given) or 'none'})")
        problem = move_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    @property
    def entity(self) -> str | None:
        """The entity type of a watermark checkpoint."""
        return self.checkpoint.removeprefix(WATERMARK_PREFIX) if self.checkpoint.startswith(WATERMARK_PREFIX) else None


def move_problem(reset: CheckpointReset) -> str | None:
    """What a position of this kind cannot do (pure), or None."""
    kind = WATERMARK_PREFIX if reset.entity is not None else reset.checkpoint
    back, forward, to = reset.back is not None, reset.forward is not None, reset.to
    problems = (
        (
            back and kind == SLOT,
            "back: a replication slot cannot go back (PostgreSQL frees the WAL behind it); "
            "declare a backfill to write entities again",
        ),
        (back and kind != STREAM, f"back: only a stream moves back by changes; use to: start for {reset.checkpoint}"),
        (forward and kind not in (STREAM, SLOT), f"forward: only a stream or a slot skips changes, not {kind}"),
        (
            to is not None and kind == STREAM and to not in (START, END),
            f"to: a stream moves to start or end, not {to!r} (use back or forward for some changes)",
        ),
        (
            to is not None and kind == SLOT and to != END and not LSN_PATTERN.fullmatch(to),
            f"to: a slot moves to end or to an LSN such as 0/1A2B3C4, not {to!r}",
        ),
        (
            to is not None and kind in (SNAPSHOT, FILES) and to != START,
            f"to: {kind} can only start again (to: start), not {to!r}",
        ),
        (
            to == END and kind == WATERMARK_PREFIX,
            "to: a watermark has no end to move to; give start or a value as `checkpoints` lists it",
        ),
    )
    return next((message for found, message in problems if found), None)


def kinds_of(*, files: bool, snapshot: bool, incremental: bool, stream: str | None) -> tuple[str, ...]:
    """The positions a pipeline keeps (pure): `stream` is STREAM or SLOT for a streaming PostgreSQL pipeline."""
    if files:
        return (FILES,) if incremental else ()
    kinds = [SNAPSHOT] if snapshot else []
    if incremental:
        kinds.append(WATERMARK_PREFIX)
    if stream is not None:
        kinds.append(stream)
    return tuple(kinds)


def fit_problem(resets: tuple[CheckpointReset, ...], kinds: tuple[str, ...], entities: set[str]) -> str | None:
    """The first reset that names a position this pipeline does not keep, or a name used twice (pure)."""
    names: set[str] = set()
    for index, reset in enumerate(resets):
        if reset.name in names:
            return f"checkpointResets[{index}].name: {reset.name!r} is used twice; each reset needs its own"
        names.add(reset.name)
        kind = WATERMARK_PREFIX if reset.entity is not None else reset.checkpoint
        if kind not in kinds:
            kept = ", ".join(k + "<entity>" if k == WATERMARK_PREFIX else k for k in kinds) or "none"
            return f"checkpointResets[{index}].checkpoint: this pipeline keeps no {reset.checkpoint} (it keeps: {kept})"
        if reset.entity is not None and reset.entity not in entities:
            return f"checkpointResets[{index}].checkpoint: {reset.entity!r} is not an entity type of the mappings"
    return None
