"""The comparison engine's pure parts: the walk over key ranges and the versions of repairs."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from graphsync.change import Change, Operation
from graphsync.compare.entries import Differences, Entry, compare
from graphsync.compare.ranges import buckets
from graphsync.compare.repairs import repairs
from graphsync.connectors.rows import entity_id
from graphsync.spec.reconcile import KeyRange


class Keys:
    """A side holding integer keys of one entity type, each entity its key as content."""

    def __init__(self, keys: Sequence[int]) -> None:
        self.keys = sorted(keys)
        self.read: list[tuple[Any, Any, tuple[Any, ...]]] = []

    def count(self, entity: str) -> int:
        return len(self.keys)

    def boundary(self, entity: str, after: Any, size: int) -> Any | None:
        above = [key for key in self.keys if after is None or key > after]
        return above[size - 1] if len(above) >= size else None

    def bucket(self, entity: str, low: Any, high: Any, ids: Sequence[Any] = ()) -> dict[str, Entry]:
        self.read.append((low, high, tuple(ids)))
        if ids:
            held = [key for key in self.keys if key in ids]
        else:
            held = [key for key in self.keys if (low is None or key > low) and (high is None or key <= high)]
        return {entity_id(entity, key): Entry(entity_id(entity, key), key, key, {}) for key in held}


def test_both_sides_read_the_source_s_ranges_and_the_last_one_is_open() -> None:
    source, target = Keys(range(1, 8)), Keys([2, 9, 12])
    found = [(b.low, b.high, sorted(e.key for e in b.target.values())) for b in buckets(source, target, "n", 3)]
    assert found == [(None, 3, [2]), (3, 6, []), (6, None, [9, 12])]
    assert target.read == source.read


def test_a_key_range_ends_the_walk_at_its_last_key_and_ids_read_one_bucket() -> None:
    source, target = Keys(range(1, 20)), Keys(range(1, 20))
    walked = [(b.low, b.high) for b in buckets(source, target, "n", 4, keys=KeyRange(after=2, through=9))]
    assert walked == [(2, 6), (6, 9)]
    [only] = buckets(source, target, "n", 4, ids=[3, 17])
    assert [entry.key for entry in only.source.values()] == [entry.key for entry in only.target.values()] == [3, 17]


def test_a_stopped_walk_reads_nothing_more_and_a_pool_reads_the_same() -> None:
    stop = threading.Event()
    source, target = Keys(range(1, 10)), Keys(range(1, 10))
    for _ in buckets(source, target, "n", 2, stop=stop):
        stop.set()
    assert len(source.read) == 1
    with ThreadPoolExecutor(max_workers=1) as pool:
        pooled = [(b.low, b.high, sorted(b.source)) for b in buckets(source, target, "n", 4, pool=pool)]
    assert pooled == [(b.low, b.high, sorted(b.source)) for b in buckets(source, target, "n", 4)]


def _source(key: int, version: int) -> Entry:
    return Entry(entity_id("n", key), key, 1, {}, Change("n", key, Operation.UPSERT, version, {"id": key}))


def _held(key: int, version: int) -> Entry:
    return Entry(entity_id("n", key), key, 2, {}, version=version, delete_data={"end": key})


def test_a_repair_outranks_what_the_target_holds_and_the_recorded_delete_when_read() -> None:
    found = Differences([_source(1, 5)], [_held(2, 7)], [(_source(3, 5), _held(3, 9))])
    unread = [(r.change.key, r.change.op, r.change.version) for r in repairs("n", found)]
    assert unread == [(1, Operation.UPSERT, 5), (3, Operation.UPSERT, 10), (2, Operation.DELETE, 8)]
    tombstones = {entity_id("n", 1): 20, entity_id("n", 2): 30, entity_id("n", 3): 3}
    read = [(r.change.key, r.change.version, r.change.data) for r in repairs("n", found, tombstones)]
    assert read == [(1, 21, {"id": 1}), (3, 10, {"id": 3}), (2, 31, {"end": 2})]


def test_entries_read_without_a_digest_compare_by_their_contents_in_canonical_form() -> None:
    def entry(key: int, content: dict[str, Any]) -> Entry:
        return Entry(entity_id("n", key), key, 0, content)

    source = {e.ident: e for e in (entry(1, {"at": 1.0}), entry(2, {"name": "a"}))}
    target = {e.ident: e for e in (entry(1, {"at": 1.0000000000000002}), entry(2, {"name": "b"}))}
    assert compare(source, target).different == []
    found = compare(source, target, by_content=True)
    assert [(s.key, t.content) for s, t in found.different] == [(2, {"name": "b"})]
