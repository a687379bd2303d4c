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
        # A repair outranks the delete recorded for an entity too (one written by hand may have none).
        idents = (
            [e.ident for e in found.missing] + [t.ident for _, t in found.different] + [e.ident for e in found.extra]
        )
        tombstones = self._target.tombstones(idents)

        def above(entry: Entry) -> int:
            return max(entry.version, tombstones.get(entry.ident, -1)) + 1

        changes = [_upsert(entry, tombstones.get(entry.ident, -1)) for entry in found.missing]
        changes += [_upsert(source, above(target) - 1) for source, target in found.different]
        changes += [
            Change(name, entry.key, Operation.DELETE, above(entry), dict(entry.delete_data or {}))
            for entry in found.extra
        ]
        return changes

    def _flush(self, report: EntityReport) -> None:
        if not self._pending or self._sink is None:
            return
        changes, self._pending = self._pending, []
        try:
            self._apply(report, changes)
        except Exception:  # noqa: BLE001 - one by one, so each failure is recorded with its own reason
            for change in changes:
                try:
                    self._apply(report, [change])
                except Exception as exc:  # noqa: BLE001 - recorded in the report, the walk goes on
                    report.failed += 1
                    report.samples["failed"].append({"key": change.key, "op": change.op.value, "reason": str(exc)})
                    del report.samples["failed"][self._spec.samples :]

    def _apply(self, report: EntityReport, changes: list[Change]) -> None:
        assert self._sink is not None
        # Counted from what was not stale: a delete of a node the engine never versioned counts as no delete.
        result = self._sink.apply(changes)
        report.repaired += len(changes) - result.stale
        report.superseded += result.stale


def _upsert(source: Entry, held: int) -> Change:
    assert source.change is not None
    return dataclasses.replace(source.change, version=max(source.change.version, held + 1))
