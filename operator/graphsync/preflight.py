"""Before a pipeline runs: can it reach its servers, read and capture what it maps, and write its target?

`graphsync check -f pipeline.yaml` and `kubectl graphsync check NAME` gather facts from
each server (`graphsync.probes`, read-only but for a write the target undoes at once) and
decide here, purely, what each fact means: a failed check is something the pipeline would
stop on, said with how to fix it; a warning is something it will mend or live with (an
index it creates as it starts). The decisions reuse the engine's own rules (the replica
identity a logical slot needs is `slot.identity_problem`), so the check and the run agree.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from graphsync.connectors.postgres.logical.slot import TableShape, identity_problem
from graphsync.connectors.postgres.tables import Table
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import Mode


class Outcome(enum.StrEnum):
    OK = "ok"
    WARNING = "warning"
    FAILED = "failed"


@dataclass(frozen=True)
class Check:
    """One thing checked: which side and what (`source`, `connect`), how it went, and what was found or how to
    fix it."""

    side: str
    name: str
    outcome: Outcome
    detail: str = ""

    def data(self) -> dict[str, Any]:
        return {"side": self.side, "name": self.name, "outcome": self.outcome.value, "detail": self.detail}


def ok(side: str, name: str, detail: str = "") -> Check:
    return Check(side, name, Outcome.OK, detail)


def failed(side: str, name: str, detail: str) -> Check:
    return Check(side, name, Outcome.FAILED, detail)


@dataclass(frozen=True)
class TableFacts:
    """What PostgreSQL says of one mapped table for the connecting user."""

    table: Table
    exists: bool
    # has_table_privilege for each of SELECT, TRIGGER, INSERT, UPDATE, DELETE; owned: the user may publish it.
    privileges: frozenset[str] = frozenset()
    owned: bool = False
    shape: TableShape | None = None


@dataclass(frozen=True)
class PostgresFacts:
    user: str
    wal_level: str
    # The role may open a replication connection (REPLICATION, or a superuser).
    replication: bool
    # The engine's schema exists (with CREATE for the user on it), or the user may create it in the database.
    schema_exists: bool
    schema_usable: bool
    tables: Sequence[TableFacts] = field(default_factory=tuple)


# What each mode and capture needs of a mapped table, beyond reading it.
def table_privileges(mode: Mode, capture: CaptureMode | None) -> tuple[str, ...]:
    needed = ["SELECT"]
    if mode is Mode.BIDIRECTIONAL:
        needed += ["INSERT", "UPDATE", "DELETE"]
    if capture is CaptureMode.TRIGGERS and mode in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM):
        needed.append("TRIGGER")
    return tuple(needed)


def postgres_checks(
    facts: PostgresFacts, *, mode: Mode, capture: CaptureMode | None, schema: str, needed: Mapping[str, Sequence[str]]
) -> list[Check]:
    """The source's checks from its facts (pure); `needed`: per entity, the columns a delete must carry
    (`slot.delete_columns`), for logical capture's replica identity."""
    side = "source"
    logical = capture is CaptureMode.LOGICAL and mode in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM)
    found: list[Check] = []
    if logical:
        found.append(
            ok(side, "wal_level", "logical")
            if facts.wal_level == "logical"
            else failed(
                side,
                "wal_level",
                f"is {facts.wal_level}; capture logical needs wal_level=logical (ALTER SYSTEM SET wal_level = logical,"
                " then restart PostgreSQL), or use capture: triggers",
            )
        )
        found.append(
            ok(side, "replication", f"role {facts.user} may replicate")
            if facts.replication
            else failed(side, "replication", f"capture logical needs ALTER ROLE {facts.user} REPLICATION")
        )
    found.append(
        ok(side, f"schema {schema}", "exists" if facts.schema_exists else "the engine creates it as it starts")
        if facts.schema_usable
        else failed(
            side,
            f"schema {schema}",
            f"{facts.user} may not create objects in it: GRANT CREATE ON "
            + (f"SCHEMA {schema}" if facts.schema_exists else "DATABASE <the database>")
            + f" TO {facts.user}",
        )
    )
    wanted = table_privileges(mode, capture)
    for table in facts.tables:
        found += _table_checks(table, facts.user, wanted, logical, needed.get(table.table.entity, ()))
    return found


def _table_checks(
    facts: TableFacts, user: str, wanted: Sequence[str], logical: bool, needed: Sequence[str]
) -> list[Check]:
    name = f"table {facts.table.name}"
    if not facts.exists:
        return [failed("source", name, f"does not exist (mapping {facts.table.entity})")]
    missing = [privilege for privilege in wanted if privilege not in facts.privileges]
    if missing:
        listed = ", ".join(missing)
        return [failed("source", name, f"{user} lacks {listed}: GRANT {listed} ON {facts.table.name} TO {user}")]
    found = [ok("source", name, ", ".join(wanted))]
    if logical:
        if not facts.owned:
            found.append(
                failed(
                    "source",
                    f"publication of {facts.table.name}",
                    f"only the table's owner may publish it: ALTER TABLE {facts.table.name} OWNER TO {user},"
                    " or have its owner create the pipeline's publication",
                )
            )
        problem = identity_problem(facts.table, facts.shape, needed) if facts.shape is not None else None
        identity = f"replica identity of {facts.table.name}"
        found.append(failed("source", identity, problem) if problem else ok("source", identity, _identity(facts)))
    return found


def _identity(facts: TableFacts) -> str:
    shape = facts.shape
    if shape is None:
        return ""
    return "full" if shape.identity == "f" else ", ".join(shape.identity_columns)


def wanted_indexes(mappings: Mappings) -> list[tuple[str, str]]:
    """What the sink looks entities up by, as (label or relationship type, property): the first label and key of
    each node mapping, the engine's own key of each relationship type (see the sinks' `prepare`)."""
    nodes = [(m.labels[0], m.target_key) for m in mappings.nodes]
    return nodes + [(r.type, "_graphsync_key") for r in mappings.relationships]


def index_checks(wanted: Iterable[tuple[str, str]], present: Iterable[tuple[str, str]]) -> list[Check]:
    """An index or uniqueness constraint on each key the sink looks up (pure): one missing is a warning, as the
    sink creates it when it starts (without it every lookup would scan its label)."""
    have = set(present)
    found = []
    for label, key in dict.fromkeys(wanted):
        name = f"index on {label}.{key}"
        found.append(
            ok("target", name, "present")
            if (label, key) in have
            else Check("target", name, Outcome.WARNING, "missing: the pipeline creates it as it starts")
        )
    return found


def worst(checks: Iterable[Check]) -> Outcome:
    outcomes = {check.outcome for check in checks}
    return next((o for o in (Outcome.FAILED, Outcome.WARNING) if o in outcomes), Outcome.OK)


def checks_text(found: Sequence[Mapping[str, Any]], wide: bool = False) -> str:
    """A row per check in the order they were made (source, transport, target), then how many of each outcome
    (pure); `wide` changes nothing: every column is shown already."""
    del wide
    if not found:
        return "nothing to check"
    rows = [[check["side"], check["name"], check["outcome"].upper(), check["detail"]] for check in found]
    widths = [max(len(row[i]) for row in [["SIDE", "CHECK", "RESULT", ""], *rows]) for i in range(3)]
    lines = []
    for row in [["SIDE", "CHECK", "RESULT", "DETAIL"], *rows]:
        lines.append(
            "   ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "   " + row[3]
        )
    counts = {outcome: sum(check["outcome"] == outcome for check in found) for outcome in Outcome}
    verdict = ", ".join(f"{count} {outcome.value}" for outcome, count in counts.items() if count)
    return "\n".join([*(line.rstrip() for line in lines), verdict])
