"""The bucket walk: both sides hashed bucket by bucket, equal buckets skipped, differing ones compared entity
by entity, and (when repairing) the differences written through the pipeline's own sink.

Graph databases have no hash function in Cypher, so entity digests are computed
here as each bucket streams in; the two sides are read concurrently. A repair
carries a version one above what the target holds (or the delete recorded for
it), so it wins over the drift without outranking the next real change; a
change that got there first leaves the repair stale (counted as superseded).
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from graphsync.change import Change, Operation
from graphsync.pipeline.contracts import Sink
from graphsync.pipeline.poison import apply_isolating
from graphsync.reconcile.entries import Differences, Entry, bucket_hash, compare
from graphsync.reconcile.report import EntityReport
from graphsync.reconcile.sides import GraphSide, Side
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
        self._pending: list[Change] = []

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def entity(self, name: str, stop: threading.Event) -> EntityReport:
        report = EntityReport(name)
        ids = self._spec.scope.ids
        if ids:
            self._bucket(report, name, None, None, ids)
        else:
            size = bucket_size(self._source.count(name), self._spec.bucket_count)
            low = None
            while not stop.is_set():
                high = self._source.boundary(name, low, size)
                self._bucket(report, name, low, high, ())
                if high is None:
                    break
                low = high
        self._flush(report)
        return report

    def _bucket(self, report: EntityReport, name: str, low: Any, high: Any, ids: Sequence[Any]) -> None:
        reading = self._pool.submit(self._source.bucket, name, low, high, ids)
        target = self._target.bucket(name, low, high, ids)
        source = reading.result()
        report.buckets += 1
        report.source += len(source)
        report.target += len(target)
        if bucket_hash(source.values()) == bucket_hash(target.values()):
            return
        report.differing_buckets += 1
        found = compare(source, target)
        self._record(report, found)
        if self._spec.action is Action.REPAIR:
            self._pending += self._repairs(name, found)
            if len(self._pending) >= self._spec.batch_size:
                self._flush(report)

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

    def _repairs(self, name: str, found: Differences) -> list[Change]:
        # A repair outranks what the target holds and the delete recorded for the entity (one written by hand
        # may have a tombstone and no version).
        idents = [e.ident for e in found.missing] + [t.ident for _, t in found.different]
        tombstones = self._target.tombstones(idents + [e.ident for e in found.extra])

        def above(entry: Entry) -> int:
            return max(entry.version, tombstones.get(entry.ident, -1)) + 1

        changes = [_at_least(entry, tombstones.get(entry.ident, -1) + 1) for entry in found.missing]
        changes += [_at_least(source, above(target)) for source, target in found.different]
        changes += [
            Change(name, entry.key, Operation.DELETE, above(entry), dict(entry.delete_data or {}))
            for entry in found.extra
        ]
        return changes

    def _flush(self, report: EntityReport) -> None:
        if not self._pending or self._sink is None:
            return
        changes, self._pending = self._pending, []
        result, refused = apply_isolating(self._sink, changes)
        # Every change neither refused nor found stale (a newer write got there first) was written.
        report.repaired += len(changes) - len(refused) - result.stale
        report.superseded += result.stale
        report.failed += len(refused)
        for rejection in refused[: max(0, self._spec.samples - len(report.samples["failed"]))]:
            change = rejection.change
            report.samples["failed"].append({"key": change.key, "op": change.op.value, "reason": rejection.reason})


def _at_least(source: Entry, version: int) -> Change:
    """The source's change, at `version` or its own if that is higher."""
    assert source.change is not None
    return dataclasses.replace(source.change, version=max(source.change.version, version))
