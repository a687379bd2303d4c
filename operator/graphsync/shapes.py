"""Schema changes of a PostgreSQL pipeline's mapped tables: detected, reported, handled by the spec's policy.

The shape of each mapped table (its columns' numbers, names and types) is kept beside the pipeline's
checkpoints (`shape:<entity>`). A worker compares it when it starts and every `checkIntervalSeconds`:
- a change to no column the mapping carries (an excluded column, one outside `include`) is only noted;
- `follow`: the run is assembled again (so a logical capture's publication takes the new columns first),
  then the entity type is written again from its source by a backfill named after the new shape, so an
  added column reaches every entity (not only those changed next) and a dropped or renamed one leaves none;
- `stop`, or a change that removes or retypes a column the mapping names (key, foreign key, filter, cast,
  include, rename, watermark), which no backfill can follow: the pipeline stops reading, is Degraded
  (SchemaChanged) and waits until a person accepts the new shape (`graphsync schema --accept`) or reverts it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg

from graphsync import connect
from graphsync.connectors import outages
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.checkpoints import PostgresCheckpoints
from graphsync.connectors.postgres.columns import Columns
from graphsync.connectors.postgres.logical import pgoutput
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.shapes import Shape, shape_of
from graphsync.connectors.postgres.tables import Table, tables_of
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.backfill import Backfill
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.mapping import Mappings, PropertySelection
from graphsync.spec.pipeline import Mode, PipelineSpec
from graphsync.spec.shapes import SchemaPolicy

log = logging.getLogger(__name__)
PREFIX = "shape:"
# How soon a wait on a run's stop sees the worker's.
STOP_SLICE = 0.05
FOLLOWING, STOPPED = "Following", "Stopped"


@dataclass(frozen=True)
class ColumnChange:
    kind: str  # added, dropped, renamed, retyped
    column: str  # its name before (added: its name)
    detail: str
    renamed_to: str | None = None


def diff(before: Shape, after: Shape) -> list[ColumnChange]:
    """What changed between two shapes of a table, by column number (pure)."""
    old = {int(number): (str(name), str(kind)) for number, name, kind in before}
    new = {int(number): (str(name), str(kind)) for number, name, kind in after}
    changes = []
    for number in sorted(old.keys() | new.keys()):
        if number not in new:
            changes.append(ColumnChange("dropped", old[number][0], f"column {old[number][0]} dropped"))
        elif number not in old:
            name, kind = new[number]
            changes.append(ColumnChange("added", name, f"column {name} added ({kind})"))
        else:
            (was, was_kind), (now, kind) = old[number], new[number]
            if was != now:
                changes.append(ColumnChange("renamed", was, f"column {was} renamed to {now}", renamed_to=now))
            if was_kind != kind:
                changes.append(ColumnChange("retyped", now, f"column {now}: {was_kind} -> {kind}"))
    return changes


def named_columns(mappings: Mappings, entity: str, watermark: str | None) -> set[str]:
    """The columns a mapping names, which no backfill can do without (pure)."""
    names: set[str] = {watermark} if watermark else set()
    for node in mappings.nodes:
        if node.name == entity:
            names |= {node.key, *(fk.column for fk in node.foreign_keys)}
            names |= {c.column for c in node.filter} | _property_names(node.properties)
    for rel in mappings.relationships:
        if rel.name == entity:
            names |= {*rel.key, rel.source.column, rel.target.column}
            names |= {c.column for c in rel.filter} | _property_names(rel.properties)
    return names


def _property_names(properties: PropertySelection) -> set[str]:
    return {*properties.include, *properties.rename, *properties.cast}


def carried(columns: Columns, name: str) -> bool:
    """Whether a column leaves PostgreSQL for the target (pure)."""
    return name in columns.keep if columns.keep is not None else name not in columns.drop


def relevant(changes: list[ColumnChange], table: Table) -> list[ColumnChange]:
    """The changes that alter what the target holds (pure)."""
    return [
        c
        for c in changes
        if carried(table.columns, c.column) or (c.renamed_to and carried(table.columns, c.renamed_to))
    ]


def breaking(changes: list[ColumnChange], named: set[str]) -> list[ColumnChange]:
    """The changes no backfill can follow: a named column gone, renamed or of another type (pure)."""
    return [c for c in changes if c.kind != "added" and c.column in named]


def backfill_name(entity: str, shape: Shape) -> str:
    """One per entity type and shape, so following a shape is done once (pure)."""
    digest = hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:8]
    return f"schema_{entity[:40]}_{digest}"


@dataclass
class Detected:
    """A schema change as the status shows it."""

    entity: str
    table: str
    changes: list[str]
    phase: str
    backfill: str | None = None
    detected_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def summary(self) -> dict[str, Any]:
        shown = {
            "entity": self.entity,
            "table": self.table,
            "changes": list(self.changes),
            "phase": self.phase,
            "backfill": self.backfill,
            "detectedAt": self.detected_at,
        }
        return {key: value for key, value in shown.items() if value is not None}


@dataclass
class Verdict:
    """One comparison: the backfills following changes (found now or before: their records tell whether they
    are done), whether a change that matters was found now, and whether the pipeline must stop."""

    follow: list[Backfill] = field(default_factory=list)
    changed: bool = False
    stop: bool = False


def watched_spec(spec: PipelineSpec) -> bool:
    """Pipelines whose source has tables to watch (a bidirectional one compares both sides whole every pass)."""
    return spec.source.postgres is not None and spec.mode is not Mode.BIDIRECTIONAL


class Watch:
    """The mapped tables' shapes compared with those kept, for one run."""

    def __init__(self, spec: PipelineSpec, on_schema: Callable[[list[dict[str, Any]]], None] | None = None) -> None:
        self._spec = spec
        self._on_schema = on_schema
        self._watermark = spec.postgres.watermark_column if spec.mode is Mode.INCREMENTAL else None
        self.detected: list[Detected] = []
        self._migrated = False

    def check(self) -> Verdict:
        """Compare every mapped table with the shape kept, and keep the new one where it is followed."""
        verdict = Verdict()
        with ExitStack() as stack:
            conn, kept = self._open(stack)
            for table in tables_of(self._spec.mapped):
                stored = kept.get(PREFIX + table.entity)
                shape = shape_of(conn, table.name)
                if stored is None:
                    kept.put(PREFIX + table.entity, {"columns": shape})
                    continue
                found = self._compare(table, stored, shape)
                if found is None:
                    # Accepted (or reverted): a stop it caused is over.
                    self.detected = [d for d in self.detected if d.entity != table.entity or d.phase != STOPPED]
                else:
                    verdict.changed = True
                if found is not None and found.phase == STOPPED:
                    verdict.stop = True
                    continue
                if found is not None:
                    stored = {"columns": shape, "follow": found.backfill}
                elif stored.get("columns") != shape:
                    stored = {**stored, "columns": shape}
                kept.put(PREFIX + table.entity, stored)
                if stored.get("follow"):
                    verdict.follow.append(Backfill(name=stored["follow"], entities=(table.entity,)))
        self._tell()
        return verdict

    def differences(self, *, accept: bool = False) -> dict[str, list[str]]:
        """Each mapped entity type's changes since the shape kept (read-only); with `accept`, the current shapes
        are kept (a person acting on a stop: the pipeline goes on with them, nothing is written again)."""
        found: dict[str, list[str]] = {}
        with ExitStack() as stack:
            conn, kept = self._open(stack)
            for table in tables_of(self._spec.mapped):
                stored = kept.get(PREFIX + table.entity) or {}
                shape = shape_of(conn, table.name)
                found[table.entity] = [c.detail for c in diff(stored.get("columns") or shape, shape)]
                if accept and (found[table.entity] or not stored):
                    kept.put(PREFIX + table.entity, {**stored, "columns": shape})
        return found

    def _open(self, stack: ExitStack) -> tuple[psycopg.Connection[Any], PostgresCheckpoints]:
        """A connection to the source and the checkpoints the shapes are kept in (the engine's tables made
        once per watch)."""
        conn = stack.enter_context(connect.postgres(self._spec.postgres, autocommit=True))
        if not self._migrated:
            pg_schema.migrate(conn, self._spec.postgres.schema_)
            self._migrated = True
        return conn, PostgresCheckpoints(conn, pipeline=self._spec.identity, schema=self._spec.postgres.schema_)

    def _compare(self, table: Table, stored: dict[str, Any], shape: Shape) -> Detected | None:
        changes = diff(stored.get("columns") or [], shape)
        if not changes:
            return None
        mattering = relevant(changes, table)
        if not mattering:
            log.info("schema of %s changed (%s); no column the mapping carries", table.name, _said(changes))
            return None
        named = named_columns(self._spec.mapped, table.entity, self._watermark)
        broken = breaking(mattering, named)
        said = [c.detail for c in mattering]
        policy = self._spec.schema_changes.policy
        if broken or policy is SchemaPolicy.STOP:
            why = f"the mapping names {', '.join(sorted({c.column for c in broken}))}" if broken else "policy stop"
            found = Detected(table.entity, table.name, [*said, f"stopped: {why}"], STOPPED)
            log.warning("schema of %s changed: %s; the pipeline stops (%s)", table.name, _said(mattering), why)
        else:
            found = Detected(table.entity, table.name, said, FOLLOWING, backfill_name(table.entity, shape))
            log.warning("schema of %s changed: %s; %s is written again", table.name, _said(mattering), table.entity)
        self._note(found)
        return found

    def _note(self, found: Detected) -> None:
        self.detected = [d for d in self.detected if d.entity != found.entity or d.phase != found.phase]
        self.detected.append(found)

    def _tell(self) -> None:
        if self._on_schema is not None:
            self._on_schema([d.summary() for d in self.detected])


def _said(changes: list[ColumnChange]) -> str:
    return "; ".join(c.detail for c in changes)


def barrier(spec: PipelineSpec) -> Callable[[], bool]:
    """Whether the stream has applied everything captured until now (call it once the capture took the new
    columns). A change captured before carries the old columns: applied after the backfill that follows a
    change, it would undo it (it is newer than what the backfill read), so the backfill waits for it."""
    postgres = spec.postgres
    streaming = spec.mode in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM)
    if not streaming:
        # Tables read directly give each row as it is now; the run that read the old shape has ended.
        return lambda: True
    with connect.postgres(postgres, autocommit=True) as conn:
        if postgres.capture is CaptureMode.LOGICAL:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
            wanted = pgoutput.lsn_value(str(row[0])) if row else 0
        else:
            wanted = Outbox(postgres.schema_, pipeline=spec.identity).newest(conn)

    def passed() -> bool:
        with connect.postgres(postgres, autocommit=True) as conn:
            if postgres.capture is CaptureMode.LOGICAL:
                state = Slot(spec.identity, postgres.schema_).state(conn)
                return state is not None and pgoutput.lsn_value(str(state["confirmed"])) >= wanted
            return Outbox(postgres.schema_, pipeline=spec.identity).settled_through(conn, wanted)

    return passed


Body = Callable[[RunControl, tuple[Backfill, ...]], RunStats]


def watched(spec: PipelineSpec, control: RunControl, body: Body) -> RunStats:
    """Run `body` with the backfills that follow schema changes; while it runs, compare the shapes every
    interval and, on a change that matters, end it and begin again (following it, or stopped until accepted)."""
    if not watched_spec(spec):
        return body(control, ())
    watch = Watch(spec, control.on_schema)
    settings = spec.schema_changes
    total: RunStats | None = None
    while not control.stop.is_set():
        try:
            verdict = watch.check()
        except Exception as exc:
            if not outages.connection_lost(exc):
                raise
            # PostgreSQL out of reach: the run waits for it and says so; the shapes are compared again later.
            log.warning("schema check: %s", exc)
            verdict = Verdict()
        if verdict.stop:
            # Stopped until a person acts: asked again every interval.
            control.stop.wait(settings.check_interval_seconds)
            continue
        watching = _Watching(watch, control.stop, settings.check_interval_seconds)
        threading.Thread(target=watching.run, name="schema-watch", daemon=True).start()
        try:
            stats = body(dataclasses.replace(control, stop=watching.inner), tuple(verdict.follow))
        finally:
            watching.ended.set()
        total = stats if total is None else stats.absorb(total)
        if not watching.changed.is_set() or control.until_idle:
            return total
    return total or RunStats()


class Either(threading.Event):
    """The stop of one run: set by the run's own reason (a shape changed) or, at once, by the worker's stop."""

    def __init__(self, outer: threading.Event) -> None:
        super().__init__()
        self._outer = outer

    def is_set(self) -> bool:
        return super().is_set() or self._outer.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.is_set():
            left = STOP_SLICE if deadline is None else min(STOP_SLICE, deadline - time.monotonic())
            if left <= 0:
                return False
            super().wait(left)
        return True


@dataclass
class _Watching:
    """Beside one run: ends it (`inner`) when a shape changes (`changed`); the worker's stop ends it at once."""

    watch: Watch
    outer: threading.Event
    interval: float
    inner: Either = field(init=False)
    changed: threading.Event = field(default_factory=threading.Event)
    ended: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.inner = Either(self.outer)

    def run(self) -> None:
        while not self.ended.wait(self.interval):
            if self.outer.is_set():
                return
            try:
                verdict = self.watch.check()
            except Exception as exc:  # noqa: BLE001 - the source is out of reach: the run's own retries say so
                log.debug("schema check: %s", exc)
                continue
            if verdict.changed:
                self.changed.set()
                self.inner.set()
                return
