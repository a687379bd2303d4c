"""A run's progress at one moment, as plain data: what the reporter's decisions and the metrics read.

A run's live `RunStats` belong to the engine and keep changing; a `Snapshot` is a frozen copy,
and `combined` folds the phases of one run (a snapshot, then its stream) into one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphsync.runner.stats import DIRECTIONS, VISIBLE_SECONDS_BOUNDS, Histogram, RunStats


@dataclass(frozen=True)
class Snapshot:
    """A run's progress at one moment, as plain data; times are seconds since the epoch."""

    synced: int = 0
    # Change events read from the source, and of them those it could not decode (dead-lettered before applying).
    read: int = 0
    rejected: int = 0
    failed: int = 0
    retries: int = 0
    # What became of the items (synced = created + updated + deleted; stale: already newer in the target).
    created: int = 0
    updated: int = 0
    deleted: int = 0
    stale: int = 0
    batches: int = 0
    batch_seconds: Histogram = field(default_factory=Histogram)
    # Per change, from its source commit to the target's (see RunStats.visible_seconds).
    visible_seconds: Histogram = field(default_factory=lambda: Histogram(VISIBLE_SECONDS_BOUNDS))
    # Change events read and not yet applied.
    unapplied: int = 0
    # Retries per component waited for, as (component, count) pairs.
    retries_by: tuple[tuple[str, int], ...] = ()
    # A bidirectional run's writes per direction (see DIRECTIONS), as (direction, count) pairs; () for the others.
    two_way_writes: tuple[tuple[str, int], ...] = ()
    # The last time the work was seen advancing: a batch applied, or a read that found nothing left.
    progressed_at: float | None = None
    last_sync_at: float | None = None
    last_retry_at: float | None = None
    last_failed_at: float | None = None
    caught_up_at: float | None = None
    caught_up: bool = False
    # The newest error text (a retry's or an item's).
    error: str | None = None
    checkpoint: str | None = None
    open_conflicts: int | None = None
    # The relay cannot move changes from the source: nothing reaches the consumer, whatever it reads.
    relay_failing: bool = False
    source_backlog_bytes: int | None = None
    source_backlog_limit_bytes: int | None = None
    # When the run's loops last came back from a read, a batch or a retry (None: this kind of run does not say).
    alive_at: float | None = None
    # The spec's backfills, as `graphsync.backfill.Progress.summary` gives them.
    backfills: tuple[Mapping[str, Any], ...] = ()
    checkpoint_resets: tuple[Mapping[str, Any], ...] = ()
    schema_changes: tuple[Mapping[str, Any], ...] = ()


def snapshot_of(stats: RunStats, *, notified_at: float | None = None) -> Snapshot:
    """Read a run's live stats. `notified_at`, the last progress callback, is a files run's only sign of progress."""
    errors = list(stats.errors)
    last_sync_at, checkpoint = stats.last_batch_at, None
    created, updated, deleted, stale = stats.created, stats.updated, stats.deleted, stats.stale
    if stats.files is not None:
        # A file written counts as updated, one removed as deleted, one found current as stale.
        created, updated, deleted, stale = 0, stats.files.succeeded, stats.files.removed, stats.files.unchanged
        last_sync_at = _latest(last_sync_at, notified_at)
        checkpoint = stats.files.commit
    return Snapshot(
        synced=created + updated + deleted,
        read=stats.read,
        rejected=stats.rejected,
        failed=stats.failed,
        retries=stats.retries,
        created=created,
        updated=updated,
        deleted=deleted,
        stale=stale,
        batches=stats.batches,
        batch_seconds=stats.batch_seconds,
        visible_seconds=stats.visible_seconds,
        unapplied=stats.unapplied,
        retries_by=tuple(sorted(dict(stats.retries_by).items())),
        two_way_writes=(
            tuple((direction, getattr(stats.two_way, direction)) for direction in DIRECTIONS)
            if stats.two_way is not None
            else ()
        ),
        progressed_at=_latest(last_sync_at, stats.caught_up_at),
        last_sync_at=last_sync_at,
        last_retry_at=stats.last_retry_at,
        last_failed_at=stats.last_failed_at,
        caught_up_at=stats.caught_up_at,
        caught_up=stats.caught_up,
        error=errors[-1] if errors else None,
        checkpoint=checkpoint,
        open_conflicts=stats.two_way.held if stats.two_way is not None else None,
        relay_failing=stats.relay_failing_since is not None,
        source_backlog_bytes=stats.source_backlog_bytes,
        source_backlog_limit_bytes=stats.source_backlog_limit_bytes,
        alive_at=stats.alive_at,
    )


def combined(phases: Sequence[Snapshot]) -> Snapshot | None:
    """One run's progress over its phases (a snapshot, then its stream), the current phase last."""
    if not phases:
        return None
    current = phases[-1]
    caught_up_at = current.caught_up_at
    if caught_up_at is None:
        # The new phase has not yet found its source empty: behind since an earlier phase last was.
        caught_up_at = _latest(*(phase.caught_up_at for phase in phases))
    retries_by = _summed(phase.retries_by for phase in phases)
    two_way_writes = _summed(phase.two_way_writes for phase in phases)
    batch_seconds, visible_seconds = Histogram(), Histogram(VISIBLE_SECONDS_BOUNDS)
    for phase in phases:
        batch_seconds = batch_seconds.plus(phase.batch_seconds)
        visible_seconds = visible_seconds.plus(phase.visible_seconds)
    return Snapshot(
        synced=sum(phase.synced for phase in phases),
        read=sum(phase.read for phase in phases),
        rejected=sum(phase.rejected for phase in phases),
        failed=sum(phase.failed for phase in phases),
        retries=sum(phase.retries for phase in phases),
        created=sum(phase.created for phase in phases),
        updated=sum(phase.updated for phase in phases),
        deleted=sum(phase.deleted for phase in phases),
        stale=sum(phase.stale for phase in phases),
        batches=sum(phase.batches for phase in phases),
        batch_seconds=batch_seconds,
        visible_seconds=visible_seconds,
        unapplied=current.unapplied,
        retries_by=retries_by,
        two_way_writes=two_way_writes,
        progressed_at=_latest(*(phase.progressed_at for phase in phases)),
        last_sync_at=_latest(*(phase.last_sync_at for phase in phases)),
        last_retry_at=_latest(*(phase.last_retry_at for phase in phases)),
        last_failed_at=_latest(*(phase.last_failed_at for phase in phases)),
        caught_up_at=caught_up_at,
        caught_up=current.caught_up,
        error=next((phase.error for phase in reversed(phases) if phase.error), None),
        checkpoint=next((phase.checkpoint for phase in reversed(phases) if phase.checkpoint), None),
        open_conflicts=current.open_conflicts,
        relay_failing=current.relay_failing,
        source_backlog_bytes=current.source_backlog_bytes,
        source_backlog_limit_bytes=current.source_backlog_limit_bytes,
        alive_at=current.alive_at,
    )


def _latest(*moments: float | None) -> float | None:
    return max((moment for moment in moments if moment is not None), default=None)


def _summed(pairs: Iterable[tuple[tuple[str, int], ...]]) -> tuple[tuple[str, int], ...]:
    """(name, count) pairs of several phases, added up by name."""
    totals: dict[str, int] = {}
    for phase in pairs:
        for name, count in phase:
            totals[name] = totals.get(name, 0) + count
    return tuple(sorted(totals.items()))
