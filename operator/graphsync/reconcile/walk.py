"""The bucket walk: both sides hashed bucket by bucket, equal buckets skipped, differing ones compared entity
by entity, and (when repairing) the differences written through the pipeline's own sink.

Graph databases have no hash function in Cypher, so entity digests are computed
by the engine as each bucket streams in (`compare.entries`); the two sides are read concurrently.

A repair runs next to a live pipeline, so what the walk saw may be gone by the time it writes. Before
writing, the differing entities are read again, the target first, then the source: a repair carries the
source as it is now, at a version one above what the target held (or the delete recorded for it) just
before, so it wins over the drift without outranking any change the pipeline applies after that read; a
difference the pipeline settled meanwhile is not written at all. After writing, the target is read once
more: an entity the target does not hold as the repair wrote it, and no newer write overtook, is a failed
repair, named in the report (the outcome is then `partial`), never counted as repaired.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from graphsync.change import Operation
from graphsync.compare.entries import FROM, Differences, Entry, bucket_hash, compare
from graphsync.compare.ranges import Bucket, buckets
from graphsync.compare.repairs import Repair, repairs
from graphsync.compare.sides import GraphSide, Side
from graphsync.reconcile.report import EntityReport
from graphsync.runner.contracts import Sink
from graphsync.runner.poison import apply_isolating
from graphsync.spec.filters import Condition, admits
from graphsync.spec.reconcile import Action, ReconcileSpec, bucket_size


class Walk:
    def __init__(self, source: Side, target: GraphSide, sink: Sink | None, spec: ReconcileSpec) -> None:
        if spec.action is Action.REPAIR and sink is None:
            raise ValueError("a repair needs the pipeline's sink")
        self._source = source
        self._target = target
        self._sink = sink
        self._spec = spec
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile")
        self._pending: list[Repair] = []

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def entity(self, name: str, stop: threading.Event, report: EntityReport | None = None) -> EntityReport:
        """Compare (and repair) one entity type; its counts go into `report` as the walk goes."""
        report = report or EntityReport(name)
        scope = self._spec.scope
        size = 0 if scope.ids else bucket_size(self._source.count(name), self._spec.bucket_count)
        walked = buckets(
            self._source, self._target, name, size, keys=scope.keys, ids=scope.ids, stop=stop, pool=self._pool
        )
        for bucket in walked:
            self._bucket(report, name, bucket)
        self._flush(report)
        return report

    def _bucket(self, report: EntityReport, name: str, bucket: Bucket) -> None:
        source, target = self._scoped(bucket.source, bucket.target)
        report.buckets += 1
        report.source += len(source)
        report.target += len(target)
        if bucket_hash(source.values()) == bucket_hash(target.values()):
            return
        report.differing_buckets += 1
        found = compare(source, target)
        if self._spec.action is not Action.REPAIR:
            self._record(report, found)
            return
        confirmed, tombstones = self._again(name, found)
        # Settled by the live pipeline between the walk's read and this one: nothing to repair.
        report.superseded += _count(found) - _count(confirmed)
        self._record(report, confirmed)
        self._pending += repairs(name, confirmed, tombstones)
        if len(self._pending) >= self._spec.batch_size:
            self._flush(report)

    def _again(self, name: str, found: Differences) -> tuple[Differences, dict[str, int]]:
        """The differences as they are now: the target read first, then the source (see the module's doc)."""
        entries = [*found.missing, *found.extra, *(source for source, _ in found.different)]
        target, tombstones = self._target_now(name, entries)
        idents = {entry.ident for entry in entries}
        source = self._source.bucket(name, None, None, _starts(entries))
        source, target = self._scoped(_only(source, idents), target)
        return compare(source, target), tombstones

    def _scoped(self, source: dict[str, Entry], target: dict[str, Entry]) -> tuple[dict[str, Entry], dict[str, Entry]]:
        """With a row filter in scope, the entities whose source rows meet it, on both sides (a target entity
        without a source row cannot be judged by it: it is out of scope)."""
        conditions = self._spec.scope.filter
        if not conditions:
            return source, target
        kept = {ident: entry for ident, entry in source.items() if _meets(conditions, entry)}
        return kept, {ident: entry for ident, entry in target.items() if ident in kept}

    def _target_now(self, name: str, entries: list[Entry]) -> tuple[dict[str, Entry], dict[str, int]]:
        """What the target holds of these entities now, and the deletes recorded for them."""
        idents = {entry.ident for entry in entries}
        target = _only(self._target.bucket(name, None, None, _starts(entries)), idents)
        return target, self._target.tombstones(sorted(idents))

    def _record(self, report: EntityReport, found: Differences) -> None:
        limit = self._spec.samples
        report.missing += len(found.missing)
        report.extra += len(found.extra)
        report.different += len(found.different)
        for entry in found.missing:
            report.sample("missing", limit, entry, None)
        for entry in found.extra:
            report.sample("extra", limit, None, entry)
        for source, target in found.different:
            report.sample("different", limit, source, target)

    def _flush(self, report: EntityReport) -> None:
        if not self._pending or self._sink is None:
            return
        pending, self._pending = self._pending, []
        _, refused = apply_isolating(self._sink, [repair.change for repair in pending])
        report.failed += len(refused)
        for rejection in refused:
            change = rejection.change
            self._failed(report, change.key, change.op.value, rejection.reason)
        rejected = {id(rejection.change) for rejection in refused}
        self._verify(report, [repair for repair in pending if id(repair.change) not in rejected])

    def _verify(self, report: EntityReport, written: list[Repair]) -> None:
        """The target read again: a repair counts once the target holds what it wrote (or no longer holds
        what it deleted); one a newer write overtook is superseded; anything else failed, named."""
        if not written:
            return
        target, tombstones = self._target_now(written[0].change.entity, [repair.entry for repair in written])
        for repair in written:
            held = target.get(repair.entry.ident)
            if repair.change.op is Operation.DELETE:
                done = held is None
            else:
                done = held is not None and held.digest == repair.entry.digest
            newest = max(held.version if held else -1, tombstones.get(repair.entry.ident, -1))
            if done:
                report.repaired += 1
            elif newest > repair.change.version:
                report.superseded += 1  # a newer write got there first: the pipeline brings the rest
            else:
                report.failed += 1
                self._failed(
                    report,
                    repair.entry.key,
                    repair.change.op.value,
                    "the target still differs after the repair: the sink could not address this entity "
                    "(written by hand under another identity?)",
                )

    def _failed(self, report: EntityReport, key: Any, op: str, reason: str) -> None:
        if len(report.samples["failed"]) < self._spec.samples:
            report.samples["failed"].append({"key": key, "op": op, "reason": reason})


def _starts(entries: list[Entry]) -> list[Any]:
    """What a side reads these entities by: a node's key, a relationship's start node key."""
    return sorted({entry.content.get(FROM, entry.key) for entry in entries}, key=repr)


def _only(entries: dict[str, Entry], idents: set[str]) -> dict[str, Entry]:
    return {ident: entry for ident, entry in entries.items() if ident in idents}


def _meets(conditions: Sequence[Condition], entry: Entry) -> bool:
    """A row the scope's filter cannot compare is in scope: writing it fails with the sink's reason, named."""
    try:
        return entry.change is not None and admits(conditions, entry.change.data)
    except ValueError:
        return True


def _count(found: Differences) -> int:
    return len(found.missing) + len(found.extra) + len(found.different)
