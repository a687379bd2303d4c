"""Positions kept as checkpoint rows (a snapshot's progress, watermarks) and a files pipeline's commit."""

from __future__ import annotations

import json
from typing import Any

from graphsync.cleanup.targets import DELETE_FILES_CHECKPOINT
from graphsync.connectors.graphs.reading import Store
from graphsync.positions import files_commit
from graphsync.resets.moves import Move, Refused
from graphsync.runner.contracts import Checkpoints
from graphsync.spec.resets import SNAPSHOT, START, CheckpointReset

SNAPSHOT_PREFIX = SNAPSHOT + ":"


class Rows:
    """A snapshot's progress or a watermark, in the engine's checkpoints (PostgreSQL, FalkorDB or the target)."""

    def __init__(self, checkpoints: Checkpoints) -> None:
        self._checkpoints = checkpoints

    def plan(self, reset: CheckpointReset) -> Move:
        before = self._checkpoints.get(reset.checkpoint)
        if reset.entity is None:
            return Move(before, None, None, "the next run reads the source again in full")
        if reset.to == START:
            return Move(before, None, None, f"{reset.entity} is read again from its first row")
        return Move(before, watermark(reset.to or "", before), None, f"{reset.entity} is read from after {reset.to}")

    def apply(self, reset: CheckpointReset, move: Move) -> None:
        if reset.entity is None:
            for name in self._checkpoints.all():
                if name == SNAPSHOT or name.startswith(SNAPSHOT_PREFIX):
                    self._checkpoints.delete(name)
        elif move.after is None:
            self._checkpoints.delete(reset.checkpoint)
        else:
            self._checkpoints.put(reset.checkpoint, move.after)


def watermark(text: str, before: Any) -> list[Any]:
    """A watermark given as the listing shows it (pure): a JSON list, the watermark column's value then the
    key's, as long as the one it replaces."""
    try:
        value = json.loads(text)
    except ValueError:
        raise Refused(f"to: {text!r} is not JSON; give the watermark as `checkpoints` lists it") from None
    if not isinstance(value, list) or not value:
        raise Refused(f"to: {text!r} is not a watermark: a JSON list, the watermark value first, then the key")
    if isinstance(before, list) and len(before) != len(value):
        raise Refused(
            f"to: {text!r} has {len(value)} value(s); this watermark has {len(before)} "
            "(the watermark value, then each key column)"
        )
    return value


class FilesCommit:
    """The commit a files pipeline's target holds: without it the next run compares every file."""

    def __init__(self, store: Store, identity: str) -> None:
        self._store = store
        self._id = f"{identity}:files"

    def plan(self, reset: CheckpointReset) -> Move:
        del reset
        return Move(files_commit(self._store, self._id), None, None, "the next run compares every file again")

    def apply(self, reset: CheckpointReset, move: Move) -> None:
        del reset, move
        self._store.write(DELETE_FILES_CHECKPOINT, {"id": self._id})
