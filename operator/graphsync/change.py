"""A change: one entity's new state (or its deletion) at a version.

Every source produces changes and every sink applies them. A sink applies a
change only if its version is newer than the one stored on the target entity,
which makes duplicates, retries and reordering converge.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any


class Operation(enum.StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


# A snapshot row taken while the change stream is also running gets the lowest
# version, so any streamed change to the same entity wins over it.
SNAPSHOT_VERSION = 0


@dataclass(frozen=True, slots=True)
class Change:
    entity: str
    key: Any
    op: Operation
    version: int
    data: Mapping[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None
    # Where the change came from (outbox id, stream entry id), for acknowledgement and the dead-letter store.
    origin: str | None = None

    def describe(self) -> str:
        """How log lines and dead-letter reasons name the change; with the application's correlation id, so its
        own logs can be followed to ours."""
        named = f"{self.entity}:{self.key}@{self.version} ({self.op})"
        return f"{named} correlation_id={self.correlation_id}" if self.correlation_id else named


@dataclass(frozen=True)
class ApplyResult:
    """What a sink did with one batch."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    # Older than what the target already holds: a duplicate or a reordered change.
    stale: int = 0

    def __add__(self, other: ApplyResult) -> ApplyResult:
        return ApplyResult(
            created=self.created + other.created,
            updated=self.updated + other.updated,
            deleted=self.deleted + other.deleted,
            stale=self.stale + other.stale,
        )


def version_now() -> int:
    """The clock as a version, in the unit `version_of` gives a timestamp (microseconds since the epoch): what a
    snapshot, a graph read or a bidirectional pass stamps its writes with."""
    return int(time.time() * 1_000_000)


def version_of(value: Any) -> int:
    """A watermark as a version: timestamps in microseconds since the epoch, integers as they are."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"watermark value {value!r} is not an ISO-8601 timestamp") from None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1_000_000)
    if isinstance(value, date):
        return int(datetime(value.year, value.month, value.day).timestamp() * 1_000_000)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"watermark value {value!r} is neither a timestamp nor an integer")


# Version epochs (see `graphsync.epochs`): a version carries its numbering's epoch in its high bits.
# 52 bits of position hold microseconds since 1970 until the year 2112, 4 PiB of WAL, any outbox id;
# the 11 bits above them (signed 64-bit integers, as both graph databases store) 2,047 renumberings.
EPOCH_SHIFT = 52
MAX_EPOCH = (1 << (63 - EPOCH_SHIFT)) - 1
_POSITIONS = 1 << EPOCH_SHIFT


def stamp(epoch: int, version: int) -> int:
    """`version` in `epoch`. Idempotent: a version already stamped (a dead letter replayed, a repair one
    above what the target holds) and the reset mark below every version (negative) stay as they are."""
    if epoch == 0 or version < 0 or version >= _POSITIONS:
        return version
    return (epoch << EPOCH_SHIFT) | version


def stamped(changes: Sequence[Change], epoch: int) -> list[Change]:
    if epoch == 0:
        return list(changes)
    return [replace(c, version=stamp(epoch, c.version)) for c in changes]


def epoch_of(version: int) -> int:
    return max(version, 0) >> EPOCH_SHIFT
