"""The one walk over key ranges: both sides of a comparison read bucket by bucket, in the source's key order.

The source says where each bucket ends (`Side.boundary`), both sides read that
range, so an entity lands in the same bucket on both whatever either holds; the
last bucket is open, so what only the target holds is seen too. Memory holds one
bucket per side. Differential mode and key scans, reconciliation and
bidirectional passes all walk this way; what they do with a bucket differs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

from graphsync.compare.entries import Entry
from graphsync.compare.sides import Side
from graphsync.spec.reconcile import KeyRange


@dataclass(frozen=True)
class Bucket:
    """One range (low, high] of an entity type's (start) keys, as each side holds it (None: unbounded)."""

    low: Any
    high: Any
    source: dict[str, Entry]
    target: dict[str, Entry]


def buckets(
    source: Side,
    target: Side,
    entity: str,
    size: int,
    *,
    keys: KeyRange | None = None,
    ids: Sequence[Any] = (),
    stop: threading.Event | None = None,
    pool: Executor | None = None,
) -> Iterator[Bucket]:
    """The buckets of one entity type, at most `size` source entities each (a relationship's by its start
    key, then its end key), within `keys`; given `ids`, the one bucket of those (start) keys. Ends early once
    `stop` is set. With a `pool`, the source is read in it while the target is read here."""

    def read(low: Any, high: Any, only: Sequence[Any] = ()) -> Bucket:
        if pool is None:
            return Bucket(low, high, source.bucket(entity, low, high, only), target.bucket(entity, low, high, only))
        reading = pool.submit(source.bucket, entity, low, high, only)
        held = target.bucket(entity, low, high, only)
        return Bucket(low, high, reading.result(), held)

    if ids:
        yield read(None, None, ids)
        return
    keys = keys or KeyRange()
    low = keys.after
    while stop is None or not stop.is_set():
        high = source.boundary(entity, low, size)
        last = high is None or not keys.within(high)
        yield read(low, keys.through if last else high)
        if last:
            return
        low = high
