"""Bidirectional pipelines: the `bidirectional` mode, between two graphs (Neo4j <-> FalkorDB, or two of one
kind) or PostgreSQL tables and a graph.

Each pass reads both sides bucket by bucket (`compare.ranges`, as reconciliation does) and decides
per entity from three digests: each side's now and the ledger's base, what both
agreed on at the last sync (`conflicts.decision`). The side that changed is copied
to the other; both changed is a conflict, settled by the pipeline's policy (held,
for `manual`, until `graphsync conflicts resolve`). What a pass writes becomes the
new base, after the write committed, so nothing is sent back where it came from, and
two passes with no edits in between write nothing.

Changes are found by comparing state, not by following events, so a write this
engine makes on either side is never mistaken for a user's edit. An application
edit made between a pass's read and its write of the same entity can be
overwritten by it (neither graphs nor plain rows keep a version an application would bump).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from typing import Any

from graphsync import connect, sources, stores, targets
from graphsync.change import Change, Operation, version_now, version_of
from graphsync.compare.entries import UNMAPPABLE, Entry
from graphsync.compare.postgres import PostgresSide
from graphsync.compare.ranges import buckets
from graphsync.compare.sides import GraphSide, Side
from graphsync.conflicts import changes, mark, resolution
from graphsync.conflicts.decision import Step, decide, decide_owing, decide_without_ledger, write_order
from graphsync.conflicts.held import ENGINE, Base, Owed
from graphsync.connectors.graphs.reading import Versions
from graphsync.connectors.postgres.rowsink import RowSink
from graphsync.connectors.rows import entity_id
from graphsync.runner.contracts import Sink
from graphsync.runner.control import RunControl
from graphsync.runner.poison import apply_isolating
from graphsync.runner.stats import RunStats, TwoWayProgress
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync.spec.mapping import NodeMapping, RelationshipMapping
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import MIN_BUCKET

log = logging.getLogger(__name__)
LEDGER_LOST = (
    "the ledger is not the one both sides were synced with (lost, evicted or restored apart from the graphs): "
    "an entity on one side only may be new there or deleted on the other, so it is held, not copied"
)


@dataclass
class _Writes:
    """One bucket's decisions, applied together: writes to each side first, then the ledger."""

    target: list[Change] = field(default_factory=list)
    source: list[Change] = field(default_factory=list)
    bases: dict[str, Base] = field(default_factory=dict)
    forget: list[str] = field(default_factory=list)
    # Entities written: what each side held before (source, target). A side that refuses its write owes it:
    # the base moves to what the pass decided (the other side took it, or held it already), so an entity
    # first seen on one side and refused by the other is not "new" again at the next pass (a delete of it
    # there would then bring the other side's later edit back).
    before: dict[str, tuple[Entry | None, Entry | None]] = field(default_factory=dict)


def run(spec: PipelineSpec, control: RunControl) -> RunStats:
    """Passes every `pollIntervalSeconds` until stopped; with `until_idle`, until a pass writes nothing."""
    stats = RunStats(two_way=TwoWayProgress())
    with ExitStack() as stack:
        pair = TwoWay(spec, stack)
        stats.alive()
        while not control.stop.is_set():
            counts = pair.run_pass(control.stop, alive=stats.alive)
            stats.add_pass(counts)
            if control.on_batch is not None:
                control.on_batch(stats)
            if control.until_idle and counts.written == 0:
                break
            if not control.until_idle:
                control.pause(pair.poll_interval, stats)
    return stats


class TwoWay:
    def __init__(self, spec: PipelineSpec, stack: ExitStack) -> None:
        self._mappings = spec.mapped
        self._policy = spec.conflict_policy or ConflictPolicySpec()
        self.ledger, self.conflicts = stores.bidirectional_state(spec, stack)
        self._source: Side
        self._source_sink: Sink
        if spec.source.postgres is not None:
            self._watermark = spec.postgres.watermark_column
            self.poll_interval = spec.postgres.poll_interval_seconds
            self._source = PostgresSide(
                stack.enter_context(connect.postgres(spec.postgres, autocommit=True)), self._mappings
            )
            self._source_sink = RowSink(
                stack.enter_context(connect.postgres(spec.postgres, autocommit=True)), self._mappings
            )
        else:
            self._watermark = spec.reading.watermark_property
            self.poll_interval = spec.reading.poll_interval_seconds
            reader = sources.graph_reader(spec, stack)
            self._source = GraphSide(reader, self._mappings, target=False, versions=Versions(None, 0), skip_bare=True)
            graph = spec.graph_source
            field = "source.falkordb" if spec.source.falkordb is not None else "source.neo4j"
            self._source_sink = targets.graph_sink(graph, field, changes.reversed_mappings(self._mappings), stack)
        self._store = targets.reader(spec, stack)
        self._target = GraphSide(self._store, self._mappings, target=True, versions=Versions(None, 0))
        self._identity = spec.identity
        # The ledger is not the one the sides were synced with (see conflicts.mark): no side-only entity is copied.
        self._careful = False
        self._target_sink = targets.sink(spec, stack)
        self._target_sink.prepare()
        self._source_sink.prepare()
        self._open: dict[str, str] = {}
        self._now_ms = 0
        # Deletes wait for the end of the pass, then go children first (see `run_pass`).
        self._deletes: dict[str, _Writes] = {}
        # Identities either side had in this pass, per entity type (one string per entity: see `_forget_unseen`).
        self._seen: dict[str, set[str]] = {}

    def run_pass(self, stop: threading.Event, alive: Callable[[], None] = lambda: None) -> TwoWayProgress:
        """`alive` is called after every bucket compared: a long pass is not taken for a stuck one."""
        counts = TwoWayProgress(passes=1)
        version = version_now()
        trust = mark.check(self.ledger, self._store, self._identity)
        self._careful = trust is mark.Trust.LOST
        if self._careful:
            log.warning("bidirectional: %s", LEDGER_LOST)
        self._open = {held.ident: held.id for held in self.conflicts.list()}
        self._now_ms = version // 1000
        # Upserts in mapping order (nodes first: a relationship's ends, a row's parent exist before it);
        # deletes at the end in reverse order (a node deleted after its relationships leaves no placeholder,
        # a parent row goes after its children).
        order = write_order(self._mappings)
        self._deletes = {name: _Writes() for name in order}
        self._seen = {}
        for name in order:
            for bucket in buckets(self._source, self._target, name, MIN_BUCKET, stop=stop):
                self._bucket(name, bucket.source, bucket.target, version, counts)
                alive()
        for name in reversed(order):
            self._apply(name, self._deletes[name], counts)
        if not stop.is_set():
            self._forget_unseen(order)
            if trust is not mark.Trust.TRUSTED:
                mark.renew(self.ledger, self._store, self._identity)
        return counts

    def _forget_unseen(self, order: list[str]) -> None:
        """Ledger entries of entities neither side has any more (both deleted them): dropped, so one that
        comes back later is new, not a delete to copy over."""
        for name in order:
            seen = self._seen.get(name, set())
            gone = [ident for ident in self.ledger.idents(name) if ident not in seen]
            self.ledger.drop(name, gone)
            for ident in gone:
                self._converged(ident)

    def settle(
        self, conflict: str, choice: str, data: Mapping[str, Any] | None = None, *, by: str, note: str | None = None
    ) -> None:
        """Write the chosen version (a side's, or `data`; None: deleted) to both sides, then make it the base;
        the record says who (`by`) chose it and why (`note`)."""
        held = self.conflicts.get(conflict)
        if held is None:
            raise ValueError(f"no conflict {conflict!r}")
        chosen: Mapping[str, Any] | None = data if choice == "data" else getattr(held, choice)
        mapping = self._mappings.entity(held.entity)
        entry = changes.entry_of(mapping, held.ident, held.key, chosen, held.shape)
        shape = entry or Entry(held.ident, held.key, 0, dict(held.shape))
        version = version_now()
        writes = _Writes()
        for side in (writes.source, writes.target):
            side.append(changes.upsert(mapping, entry, version) if entry else changes.delete(mapping, shape, version))
        if entry is None:
            writes.forget.append(held.ident)
        else:
            writes.bases[held.ident] = Base(entry.digest, changes.properties(entry))
        counts = TwoWayProgress()
        self._apply(held.entity, writes, counts)
        if counts.failed:
            raise ValueError(f"conflict {conflict} is still held: {'; '.join(counts.errors)}")
        self.conflicts.settle(conflict, choice, by=by, note=note)

    def _bucket(
        self, name: str, source: dict[str, Entry], target: dict[str, Entry], version: int, counts: TwoWayProgress
    ) -> None:
        mapping = self._mappings.entity(name)
        idents = sorted(source.keys() | target.keys())
        bases = self.ledger.get(name, idents)
        writes = _Writes()
        deletes = self._deletes[name]
        counts.compared += len(idents)
        seen = self._seen.setdefault(name, set())
        seen.update(idents)
        for ident in idents:
            s, t, base = source.get(ident), target.get(ident), bases.get(ident)
            broken = next((e for e in (s, t) if e is not None and UNMAPPABLE in e.content), None)
            if broken is not None:
                # Neither side is written, the ledger keeps its entry: fixed in its database, it syncs again.
                counts.fail(f"{name} {broken.key}: {broken.content[UNMAPPABLE]}")
                continue
            step, base = self._decide(ident, s, t, base)
            if step is Step.UNSURE:
                self._hold(mapping, ident, s, t, base=None, reason=LEDGER_LOST, counts=counts)
                continue
            if step is Step.RECORD and s is not None:
                writes.bases[ident] = Base(s.digest, changes.properties(s))
                counts.recorded += 1
            elif step is Step.FORGET:
                writes.forget.append(ident)
            elif step in (Step.TO_TARGET, Step.TO_SOURCE):
                # The side that changed is what both hold after; only the other one is written.
                kept = s if step is Step.TO_TARGET else t
                self._write_both(mapping=mapping, ident=ident, s=s, t=t, entry=kept, version=version, writes=writes)
                if step is Step.TO_TARGET:
                    counts.to_target += 1
                else:
                    counts.to_source += 1
            elif step is Step.CONFLICT:
                self._conflict(
                    mapping=mapping, ident=ident, s=s, t=t, base=base, version=version, writes=writes, counts=counts
                )
            if step is not Step.CONFLICT and (s or t):
                self._converged(ident)
        for now, later in ((writes.source, deletes.source), (writes.target, deletes.target)):
            later += [change for change in now if change.op is Operation.DELETE]
            now[:] = [change for change in now if change.op is Operation.UPSERT]
        deletes.forget += writes.forget
        writes.forget = []
        self._apply(name, writes, counts)

    def _decide(self, ident: str, s: Entry | None, t: Entry | None, base: Base | None) -> tuple[Step, Base | None]:
        """The step for one entity, and the base a conflict is merged from."""
        s_digest, t_digest = s.digest if s else None, t.digest if t else None
        if self._careful or (base is None and ident in self._open):
            # The ledger cannot be trusted, or this entity is held for that until a person settles it.
            return decide_without_ledger(s_digest, t_digest), None
        if base is not None and base.owed is not None:
            # A conflict now is merged from what the owing side held, which its edit was made on.
            owed = base.owed
            step = decide_owing(s_digest, t_digest, base.digest, owed.side, owed.digest)
            return step, Base(owed.digest or 0, owed.data) if owed.data is not None else None
        return decide(s_digest, t_digest, base.digest if base else None), base

    def _hold(
        self,
        mapping: NodeMapping | RelationshipMapping,
        ident: str,
        s: Entry | None,
        t: Entry | None,
        *,
        base: Base | None,
        reason: str,
        counts: TwoWayProgress,
    ) -> None:
        """Both versions (and the base) kept for a person to settle; neither side is written."""
        shape = s or t
        assert shape is not None
        versions: dict[str, Mapping[str, Any] | None] = {
            "source": changes.properties(s) if s else None,
            "target": changes.properties(t) if t else None,
            "base": base.data if base else None,
        }
        self.conflicts.hold(mapping.name, shape.key, ident, versions, shape=changes.shape(shape), reason=reason)
        counts.held += 1

    def _conflict(
        self,
        *,
        mapping: NodeMapping | RelationshipMapping,
        ident: str,
        s: Entry | None,
        t: Entry | None,
        base: Base | None,
        version: int,
        writes: _Writes,
        counts: TwoWayProgress,
    ) -> None:
        decided = resolution.resolve(
            self._policy,
            mapping.name,
            self._revision(resolution.Side.SOURCE, s),
            self._revision(resolution.Side.TARGET, t),
            resolution.Synced(0, 0, base.data) if base else None,
        )
        if decided.action is resolution.Action.HOLD:
            self._hold(mapping, ident, s, t, base=base, reason=decided.reason, counts=counts)
            return
        shape = s or t
        assert shape is not None
        entry = changes.entry_of(mapping, ident, shape.key, decided.data, changes.shape(shape))
        self._write_both(mapping=mapping, ident=ident, s=s, t=t, entry=entry, version=version, writes=writes)
        counts.resolved += 1

    def _write_both(
        self,
        *,
        mapping: NodeMapping | RelationshipMapping,
        ident: str,
        s: Entry | None,
        t: Entry | None,
        entry: Entry | None,
        version: int,
        writes: _Writes,
    ) -> None:
        """Make both sides hold `entry` (None: neither holds it), writing only the side that differs, at a
        version above what it holds, so the target's version guard takes it (source entries carry none)."""
        sides = 0
        for have, side in ((s, writes.source), (t, writes.target)):
            written = max(version, have.version + 1) if have is not None else version
            if entry is None and have is not None:
                side.append(changes.delete(mapping, have, written))
                sides += 1
            elif entry is not None and (have is None or have.digest != entry.digest):
                side.append(changes.upsert(mapping, entry, written))
                sides += 1
        if sides:
            writes.before[ident] = (s, t)
        if entry is None:
            writes.forget.append(ident)
        else:
            writes.bases[ident] = Base(entry.digest, changes.properties(entry))

    def _revision(self, side: resolution.Side, entry: Entry | None) -> resolution.Revision:
        if entry is None:
            return resolution.Revision(side, 0, 0, None)
        return resolution.Revision(side, 0, self._written_at(entry), changes.properties(entry))

    def _written_at(self, entry: Entry) -> int:
        """Milliseconds since the epoch, from the watermark property (a timestamp, or an integer taken as
        milliseconds) when the pipeline has one; else the pass's time, so an update beats a delete."""
        value = entry.content.get(self._watermark) if self._watermark else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        try:
            return version_of(value) // 1000 if value is not None else self._now_ms
        except ValueError:
            return self._now_ms

    def _converged(self, ident: str) -> None:
        """A held conflict whose sides came to agree (or one was copied over) is settled by itself."""
        if ident in self._open:
            self.conflicts.settle(self._open.pop(ident), "converged", by=ENGINE, note="both sides came to agree")

    def _apply(self, name: str, writes: _Writes, counts: TwoWayProgress) -> None:
        # The ledger moves only after both sides committed: a crash in between repeats the pass's writes,
        # which the version guard makes harmless. An entity a side refuses keeps its ledger entry.
        failed_target = _write(self._target_sink, writes.target, counts)
        failed_source = _write(self._source_sink, writes.source, counts)
        failed = failed_target | failed_source
        bases = {ident: base for ident, base in writes.bases.items() if ident not in failed}
        for ident, (s, t) in writes.before.items():
            # One side took (or held) what the pass decided and the other refused it: the base moves, the
            # refusing side owes it (not an edit of its own to merge in again at the next pass).
            if ident in writes.bases and (ident in failed_target) != (ident in failed_source):
                side, had = ("source", s) if ident in failed_source else ("target", t)
                owed = Owed(side, had.digest if had else None, changes.properties(had) if had else None)
                bases[ident] = replace(writes.bases[ident], owed=owed)
        self.ledger.put(name, bases)
        self.ledger.drop(name, [ident for ident in writes.forget if ident not in failed])


def _write(sink: Sink, batch: list[Change], counts: TwoWayProgress) -> set[str]:
    """Apply a batch, a refused entity failing alone; returns the identities that failed."""
    _, refused = apply_isolating(sink, batch)
    for rejection in refused:
        counts.fail(f"{rejection.change.describe()}: {rejection.reason}")
    return {entity_id(r.change.entity, r.change.key) for r in refused}
