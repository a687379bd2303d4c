"""Version epochs: one order across every way a pipeline ever numbered its changes.

A target entity keeps the version of the change that wrote it, and a change applies only when its
version is higher. Versions come from different numberings: outbox ids (the engine schema's sequence),
commit positions in the WAL, snapshot start times, watermark values. Numbers from two numberings
cannot be compared: after a pipeline switched from snapshot (start times around 1.7e15) to a stream
(outbox ids around 1e6), or after its engine schema was recreated (ids from 1 again) or its source
restored from a backup (positions back in time), every later change would lose to the older writes.

So a version carries its numbering's epoch in its high bits: `epoch << EPOCH_SHIFT | position`. The
target records, per pipeline, the numbering in use and its epoch (a `GraphsyncVersionScheme` node); a
worker that starts with another numbering, or finds its source behind the position recorded, takes the
next epoch, whose every version is above every version of the epochs before. A write from an older
epoch (a worker of the old numbering still running, an event stamped before the switch) is then
refused by the same version guard as any stale write. Epoch 0 leaves versions as they always were, so
targets written before epochs existed need no migration.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import LiteralString

from graphsync.change import MAX_EPOCH
from graphsync.connectors.graphs.reading import Store

log = logging.getLogger(__name__)

READ_SCHEME: LiteralString = """
OPTIONAL MATCH (s:GraphsyncVersionScheme {pipeline: $pipeline})
RETURN s.epoch, s.scheme, s.position, s.resync
"""
# Written only if no other worker moved the epoch since it was read (two replicas starting at once).
WRITE_SCHEME: LiteralString = """
MERGE (s:GraphsyncVersionScheme {pipeline: $pipeline})
WITH s WHERE coalesce(s.epoch, -1) = $seen
SET s.changedAt = CASE WHEN $renumbered THEN $changed_at ELSE s.changedAt END,
    s.resync = CASE WHEN $renumbered THEN true ELSE coalesce(s.resync, false) END,
    s.epoch = $epoch, s.scheme = $scheme, s.position = $position
RETURN s.resync
"""
# The epoch's resync (see `Claim`) is done.
RESYNCED: LiteralString = """
MATCH (s:GraphsyncVersionScheme {pipeline: $pipeline}) WHERE s.epoch = $epoch
SET s.resync = false
RETURN count(s)
"""
DELETE_SCHEME: LiteralString = """
MATCH (s:GraphsyncVersionScheme {pipeline: $pipeline})
DELETE s
RETURN count(s)
"""


@dataclass(frozen=True)
class Scheme:
    """How a pipeline numbers its changes now: `name` says which numbering of which source instance,
    `position` how far that source has come (its WAL position), which never goes back but by a restore."""

    name: str
    position: int


@dataclass(frozen=True)
class Recorded:
    epoch: int
    scheme: str
    position: int


def decide(recorded: Recorded | None, wanted: Scheme) -> tuple[Recorded, str | None]:
    """The epoch a worker numbering by `wanted` writes in, and why it is a new one (None: it is not)."""
    if recorded is None:
        return Recorded(0, wanted.name, wanted.position), None
    if recorded.scheme != wanted.name:
        reason = f"the numbering changed from {recorded.scheme} to {wanted.name}"
    elif wanted.position < recorded.position:
        reason = (
            f"the source is at position {wanted.position}, behind the {recorded.position} it had reached "
            "(restored from a backup, or failed over to a lagging replica)"
        )
    else:
        return Recorded(recorded.epoch, recorded.scheme, max(recorded.position, wanted.position)), None
    if recorded.epoch >= MAX_EPOCH:
        raise ValueError(
            f"{reason}, but the target has used all {MAX_EPOCH} version epochs; "
            "rebuild the target (deletionPolicy cleanup, then apply the pipeline again)"
        )
    return Recorded(recorded.epoch + 1, wanted.name, wanted.position), reason


@dataclass(frozen=True)
class Claim:
    """The epoch a worker writes in, and whether the source must first be read again in full (`resync`).

    A new numbering starts where the old one stopped capturing, and what was committed in between (while
    no worker ran, or while the new capture was being installed) is in neither; a source restored from a
    backup no longer has what the target got after it. A full read with a sweep, at the new epoch's lowest
    version, puts the target right; it is recorded on the target with the epoch, so a worker that dies
    midway does it again."""

    epoch: int
    resync: bool


def claim(store: Store, pipeline: str, wanted: Scheme) -> Claim:
    """The pipeline's epoch on the target at `store`, moved on first if `wanted` needs a new one."""
    while True:
        # Through `write`: FalkorDB refuses a read of a graph not made yet, which a new pipeline's target is.
        [row] = store.write(READ_SCHEME, {"pipeline": pipeline})
        recorded = None if row[0] is None else Recorded(int(row[0]), str(row[1]), int(row[2]))
        chosen, reason = decide(recorded, wanted)
        params = {
            "pipeline": pipeline,
            "seen": -1 if recorded is None else recorded.epoch,
            "epoch": chosen.epoch,
            "scheme": chosen.scheme,
            "position": chosen.position,
            "changed_at": int(time.time() * 1000),
            "renumbered": reason is not None,
        }
        written = store.write(WRITE_SCHEME, params)
        if written:
            if reason is not None:
                log.warning("pipeline %s: versions go on in epoch %d: %s", pipeline, chosen.epoch, reason)
            return Claim(chosen.epoch, resync=bool(written[0][0]))


def resynced(store: Store, pipeline: str, epoch: int) -> None:
    store.write(RESYNCED, {"pipeline": pipeline, "epoch": epoch})
