"""What the slot's stream decodes into (pure): row changes, typed here or left as text for PostgreSQL to
type; the transactions holding them; how they are cut into batches and folded into changes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from graphsync.change import Change, Operation
from graphsync.connectors.postgres.logical import pgoutput, texts
from graphsync.connectors.postgres.tables import Table

JSON_TYPES = frozenset({114, 3802})


@dataclass
class Row:
    """One decoded row change: typed already, or its values still text, keyed by column name."""

    table: Table
    op: Operation
    values: dict[str, Any]
    unchanged: bool = False
    typed: dict[str, Any] | None = None


@dataclass
class Transaction:
    xid: int
    commit_lsn: int
    end_lsn: int
    # When it committed (Unix seconds, the server's clock): what its commit-to-visible latency counts from.
    committed_at: float = 0.0
    rows: list[Row] = field(default_factory=list)
    # Changes that came through the outbox (a replayed dead letter, an application's event).
    events: list[Change] = field(default_factory=list)
    # Entity types whose tables this transaction truncated (before its other changes).
    truncated: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        """How many changes it holds, before folding."""
        return len(self.rows) + len(self.events)

    def changes(self) -> list[Change]:
        """Its typed rows as changes, one per entity (its last: a transaction is atomic; with REPLICA IDENTITY
        FULL an UPDATE also sends its old row, whose delete the upsert of the same key replaces), then its
        outbox events."""
        folded: dict[tuple[str, Any], Change] = {}
        for decoded in self.rows:
            change = _change(decoded, self.commit_lsn)
            if change is not None:
                key = (change.entity, _hashable(change.key))
                folded.pop(key, None)
                folded[key] = change
        return [*folded.values(), *self.events]


@dataclass
class Relation:
    """A table as the slot describes it, with how its rows are typed here per mapped table (None: by
    PostgreSQL)."""

    relation: pgoutput.Relation
    layouts: dict[str, texts.Layout | None] = field(default_factory=dict)

    def layout(self, table: Table) -> texts.Layout | None:
        if table.name not in self.layouts:
            self.layouts[table.name] = texts.layout(self.relation.columns, *table.columns.listing())
        return self.layouts[table.name]


def decoded_row(known: Relation, table: Table, op: Operation, values: pgoutput.Tuple) -> Row:
    """A row typed here when every column the mapping takes allows (see texts), else left to PostgreSQL."""
    layout = known.layout(table)
    typed = texts.typed(layout, values) if layout is not None else None
    if typed is not None:
        return Row(table, op, {}, typed=typed)
    text = text_values(known.relation, values)
    return Row(table, op, text, unchanged=any(value is pgoutput.UNCHANGED for value in text.values()))


def text_values(relation: pgoutput.Relation, values: pgoutput.Tuple) -> dict[str, Any]:
    """Column name to value; JSON columns parsed here, as `jsonb_populate_record` would take their text as a
    JSON string."""
    row: dict[str, Any] = {}
    for column, value in zip(relation.columns, values, strict=True):
        if isinstance(value, str) and column.type_oid in JSON_TYPES:
            row[column.name] = json.loads(value)
        else:
            row[column.name] = value
    return row


def first(transactions: list[Transaction], limit: int) -> list[Transaction]:
    """The oldest whole transactions holding up to `limit` changes (at least one transaction)."""
    taken, changes = 0, 0
    for transaction in transactions:
        changes += transaction.size
        if taken and changes > limit:
            break
        taken += 1
    return transactions[:taken]


def _hashable(key: Any) -> Any:
    """A key to fold a transaction's changes by: itself when it is a number or text (most are), else its
    JSON text (a composite key is a list)."""
    return key if type(key) in (int, str) else json.dumps(key, default=str)


def _change(row: Row, version: int) -> Change | None:
    if row.typed is None:
        return None
    doc = dict(row.typed)
    return Change(entity=row.table.entity, key=row.table.key_value(doc), op=row.op, version=version, data=doc)
