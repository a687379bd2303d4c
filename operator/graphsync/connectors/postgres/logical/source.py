"""Reading a pipeline's changes from its logical replication slot, acknowledged only once applied.

`read` peeks the slot (`pg_logical_slot_peek_binary_changes`: the slot does not move) a few batches
ahead, decodes the pgoutput messages and hands over whole transactions, a batch at a time. `commit`,
called by the runner after the target committed them, notes how far the target has them; the next peek
first advances the slot that far (the slot serves one call at a time, and the writer's next batch should
not wait on PostgreSQL moving it); `flush` does it as a run ends. A crash in between delivers them
again, and versions make that harmless. The runner reads ahead of what it applied: a peek starts again
at the slot's position, so transactions already handed over are skipped, not handed twice.

A change's version is its transaction's commit LSN: commit order, the order PostgreSQL made the
changes visible in, so a transaction that commits late still wins over what committed before it.
One transaction's several changes to one entity are folded into the last (a transaction is atomic).

Values arrive as text. PostgreSQL turns them back into typed JSON (`jsonb_populate_record` then
`to_jsonb`, the form snapshot reads and triggers give), one statement per table and batch. An UPDATE
that left a TOASTed value unchanged does not carry it: such a row is read again by its key.

With no change for the pipeline, the slot is moved up to the current WAL position about once a second,
so a busy database with quiet mapped tables does not keep its WAL for this slot.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.connectors.postgres.logical import pgoutput, texts
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.postgres.tables import Table, row_sql, table_sql
from graphsync.pipeline.contracts import Batch, Rejection
from graphsync.spec import identifiers

log = logging.getLogger(__name__)

_PEEK = """
SELECT data FROM pg_logical_slot_peek_binary_changes(
    %(slot)s, %(upto)s::pg_lsn, %(limit)s, 'proto_version', '1', 'publication_names', %(publications)s)
WHERE NOT (xid = ANY(%(handed)s::text[]::xid[])) OR get_byte(data, 0) = 82
"""
_CURRENT = "SELECT pg_current_wal_lsn()::text"
_QUALIFIED = """
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = %(table)s::regclass
"""
_ADVANCE = "SELECT pg_replication_slot_advance(%(slot)s, %(lsn)s::pg_lsn)"
_TYPED = """
SELECT x.i, {row} FROM jsonb_array_elements(%(rows)s::jsonb) WITH ORDINALITY AS x(e, i),
    LATERAL jsonb_populate_record(NULL::{table}, x.e) AS t
ORDER BY x.i
"""
_CURRENT_ROW = "SELECT {row} FROM {table} AS t WHERE ({key}) = ({values})"
_SETTLE = """
UPDATE {schema}.outbox SET status = 'completed', completed_at = now(), last_error = NULL
WHERE id = ANY(%(ids)s) AND pipeline = %(pipeline)s
"""
_JSON_TYPES = frozenset({114, 3802})
IDLE_POLL_SECONDS = 0.05
IDLE_READ_SECONDS = 0.5
IDLE_ADVANCE_SECONDS = 1.0
BACKLOG_EVERY_SECONDS = 5.0
TRUNCATE_WAIT_SECONDS = 30.0
# A peek reads up to this many batches: each one decodes again, in the server, what was handed over and not
# yet applied, so fewer, larger peeks decode each change fewer times.
PEEKED_BATCHES = 4


@dataclass
class _Row:
    """One decoded row change: typed already, or its values still text, keyed by column name."""

    table: Table
    op: Operation
    values: dict[str, Any]
    unchanged: bool = False
    typed: dict[str, Any] | None = None


@dataclass(frozen=True)
class _Handed:
    """A transaction handed over and not yet committed: its messages are counted in the next peek's limit."""

    xid: int
    end_lsn: int
    messages: int


@dataclass
class _Transaction:
    xid: int
    commit_lsn: int
    end_lsn: int
    messages: int
    rows: list[_Row] = field(default_factory=list)
    # Changes that came through the outbox (a replayed dead letter, an application's event).
    events: list[Change] = field(default_factory=list)
    # Entity types whose tables this transaction truncated (before its other changes).
    truncated: list[str] = field(default_factory=list)


class LogicalSource:
    def __init__(
        self, conn: psycopg.Connection[Any], slot: Slot, tables: Sequence[Table], *, schema: str, pipeline: str
    ) -> None:
        self._conn = conn
        self._slot = slot
        self._tables = {table.name: table for table in tables}
        self._by_entity = {table.entity: table for table in tables}
        self._outbox = f"{identifiers.check(schema)}.outbox"
        self._schema = schema
        self._pipeline = pipeline
        # Peeking and advancing must not overlap: the slot is held by one at a time.
        self._lock = threading.Lock()
        # Transactions peeked and not yet handed over, oldest first: the reader's next batches.
        self._peeked: list[_Transaction] = []
        # Transactions handed over that the slot is not yet past, oldest first.
        self._handed: list[_Handed] = []
        # How far the target committed (an end LSN) and the outbox events of this pipeline it took: the slot
        # is moved and the events settled by the reader, under `_lock`; the writer only notes them here.
        self._acks = threading.Lock()
        self._applied = -1
        self._settling: list[int] = []
        self._advanced_at = 0.0
        self._measured_at = 0.0
        # Told how much WAL the slot holds, every BACKLOG_EVERY_SECONDS (the run's stats, for status and metrics).
        self.on_backlog: Callable[[int], None] | None = None
        # Deletes every entity of these types older than the version (the target's sweep): a TRUNCATE.
        self.on_truncate: Callable[[list[str], int], None] | None = None

    def prepare(self) -> None:
        # pgoutput names tables by schema and name; a mapping may leave the schema to the search path.
        tables = list(self._tables.values())
        self._tables = {}
        for table in tables:
            row = self._conn.execute(_QUALIFIED, {"table": table.name}).fetchone()
            self._tables[str(row[0]) if row else table.name] = table

    def read(self, limit: int) -> Batch:
        if not self._peeked:
            deadline = time.monotonic() + IDLE_READ_SECONDS
            while True:
                self._peeked = self._peek(limit * PEEKED_BATCHES)
                if self._peeked:
                    break
                if time.monotonic() >= deadline:
                    return Batch(changes=[])
                time.sleep(IDLE_POLL_SECONDS)
        transactions = self._up_to_truncate(_first(self._peeked, limit))
        if not transactions:
            return Batch(changes=[])
        del self._peeked[: len(transactions)]
        changes = self._changes(transactions)
        with self._lock:
            self._handed.extend(_Handed(t.xid, t.end_lsn, t.messages) for t in transactions)
        return Batch(changes=changes, token=transactions[-1].end_lsn)

    def _up_to_truncate(self, transactions: list[_Transaction]) -> list[_Transaction]:
        """A TRUNCATE deletes what every earlier change wrote, so it runs alone, once those are applied: the
        transactions before it go first; then, with nothing left unapplied, it is swept in the target and
        handed over with its own changes (a reload: TRUNCATE then INSERT, in one transaction)."""
        at = next((i for i, t in enumerate(transactions) if t.truncated), None)
        if at is None:
            return transactions
        if at > 0:
            return transactions[:at]
        deadline = time.monotonic() + TRUNCATE_WAIT_SECONDS
        while self._unapplied() and time.monotonic() < deadline:
            time.sleep(IDLE_POLL_SECONDS)
        if self._unapplied():
            return []  # the writer is still busy (or down): the next read tries again
        truncating = transactions[0]
        if self.on_truncate is None:
            raise RuntimeError(f"TRUNCATE of {', '.join(truncating.truncated)}: no target sweep to apply it with")
        # Tombstones just below the transaction's own version: its own inserts (a reload) still apply.
        self.on_truncate(truncating.truncated, truncating.commit_lsn - 1)
        return [truncating]

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        if batch.token is None:
            return
        end = int(batch.token)
        own = [int(c.origin) for c in batch.changes if c.origin and c.origin.isdigit()]
        with self._acks:
            self._applied = max(self._applied, end)
            self._settling.extend(own)

    def flush(self) -> None:
        """Move the slot past what the target committed now, as a run ends (the next worker then starts
        there); on a connection already lost it does nothing: the next worker is handed those again."""
        if self._conn.closed or self._conn.broken:
            return
        with self._lock:
            try:
                self._acknowledge()
            except psycopg.Error as exc:
                log.warning("the slot stays where it was, its changes will be handed over again: %s", exc)

    def close(self) -> None:
        self._conn.close()

    def _unapplied(self) -> bool:
        with self._acks:
            return any(handed.end_lsn > self._applied for handed in self._handed)

    def _acknowledge(self) -> None:
        """Settle this pipeline's outbox events the target took and move the slot past what it committed;
        called with `_lock` held. Noted again on an error: a lost connection ends the run anyway."""
        with self._acks:
            applied, own = self._applied, self._settling
            self._settling = []
        try:
            if own:
                self._conn.execute(self._sql(_SETTLE), {"ids": own, "pipeline": self._pipeline})
            if self._handed and applied >= self._handed[0].end_lsn:
                self._conn.execute(_ADVANCE, {"slot": self._slot.name, "lsn": pgoutput.lsn_text(applied)})
        except BaseException:
            with self._acks:
                self._settling = own + self._settling
            raise
        self._handed = [handed for handed in self._handed if handed.end_lsn > applied]

    def _peek(self, limit: int) -> list[_Transaction]:
        with self._lock:
            self._acknowledge()
            row = self._conn.execute(_CURRENT).fetchone()
            upto = str(row[0]) if row else None
            skip = sum(handed.messages for handed in self._handed)
            after = self._handed[-1].end_lsn if self._handed else -1
            # A peek starts at the slot's position again: the server leaves out what was handed over already
            # (but not its Relation messages, which the transactions after it may need), so it is neither
            # sent nor decoded once more.
            rows = self._conn.execute(
                _PEEK,
                {
                    "slot": self._slot.name,
                    "upto": upto,
                    "limit": limit + skip,
                    "publications": self._slot.publications,
                    "handed": [str(handed.xid) for handed in self._handed],
                },
            ).fetchall()
            if not rows and not self._handed and upto and time.monotonic() - self._advanced_at >= IDLE_ADVANCE_SECONDS:
                # Nothing of this pipeline committed before `upto`: the slot need not keep that WAL.
                self._conn.execute(_ADVANCE, {"slot": self._slot.name, "lsn": upto})
                self._advanced_at = time.monotonic()
            if self.on_backlog is not None and time.monotonic() - self._measured_at >= BACKLOG_EVERY_SECONDS:
                held = self._slot.lag_bytes(self._conn)
                if held is not None:
                    self.on_backlog(held)
                self._measured_at = time.monotonic()
        return [t for t in self._transactions(bytes(r[0]) for r in rows) if t.end_lsn > after]

    def _transactions(self, messages: Any) -> list[_Transaction]:
        relations: dict[int, _Relation] = {}
        found: list[_Transaction] = []
        current: _Transaction | None = None
        for data in messages:
            message = pgoutput.decode(data)
            if isinstance(message, pgoutput.Relation):
                relations[message.oid] = _Relation(message)
            elif isinstance(message, pgoutput.Begin):
                current = _Transaction(xid=message.xid, commit_lsn=message.final_lsn, end_lsn=0, messages=1)
            elif isinstance(message, pgoutput.Commit):
                if current is None:
                    raise pgoutput.DecodeError("a commit without its begin")
                current.end_lsn, current.messages = message.end_lsn, current.messages + 1
                found.append(current)
                current = None
            elif current is not None:
                current.messages += 1
                self._take(current, message, relations)
        return found

    def _take(self, transaction: _Transaction, message: pgoutput.Message, relations: dict[int, _Relation]) -> None:
        if isinstance(message, pgoutput.Truncate):
            for oid in message.relations:
                known = relations.get(oid)
                table = self._tables.get(known.relation.qualified) if known is not None else None
                if table is not None:
                    transaction.truncated.append(table.entity)
            return
        if isinstance(message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete):
            known = relations[message.relation]
            relation = known.relation
            if relation.qualified == self._outbox:
                if isinstance(message, pgoutput.Insert):
                    event = self._event(_values(relation, message.new), transaction.commit_lsn)
                    if event is not None:
                        transaction.events.append(event)
                return
            table = self._tables.get(relation.qualified)
            if table is None:
                return
            if isinstance(message, pgoutput.Delete):
                transaction.rows.append(_row(known, table, Operation.DELETE, message.old))
                return
            if isinstance(message, pgoutput.Update) and message.old is not None:
                # The old key (or row): sent when it changed, or with REPLICA IDENTITY FULL.
                transaction.rows.append(_row(known, table, Operation.DELETE, message.old))
            transaction.rows.append(_row(known, table, Operation.UPSERT, message.new))

    def _event(self, row: dict[str, Any], commit_lsn: int) -> Change | None:
        """An outbox row of this pipeline or of none, as a change; None for an entity type it does not map."""
        table = self._by_entity.get(str(row["entity_type"]))
        if table is None:
            return None
        version = row.get("version")
        return Change(
            entity=table.entity,
            # jsonb columns come parsed (see _values).
            key=row["entity_key"],
            op=Operation(row["operation"]),
            version=int(version) if version is not None else commit_lsn,
            data=table.columns.apply(row["payload"] or {}),
            correlation_id=row.get("correlation_id"),
            origin=str(row["id"]) if row.get("pipeline") == self._pipeline else None,
        )

    def _changes(self, transactions: list[_Transaction]) -> list[Change]:
        self._type([row for t in transactions for row in t.rows])
        changes: list[Change] = []
        for transaction in transactions:
            folded: dict[tuple[str, str], Change] = {}
            for row in transaction.rows:
                change = _change(row, transaction.commit_lsn)
                if change is not None:
                    key = (change.entity, _hashable(change.key))
                    folded.pop(key, None)
                    folded[key] = change
            # Folded by key: with REPLICA IDENTITY FULL an UPDATE also sends its old row, whose delete the
            # upsert of the same key replaces.
            changes.extend(folded.values())
            changes.extend(transaction.events)
        return changes

    def _type(self, rows: list[_Row]) -> None:
        """Typed JSON for every row, one statement per table; rows with an unchanged TOASTed value read again."""
        by_table: dict[str, list[_Row]] = {}
        for row in rows:
            if row.typed is None:
                by_table.setdefault(row.table.name, []).append(row)
        with self._lock:
            for name, group in by_table.items():
                table = group[0].table
                payload = json.dumps(
                    [{k: v for k, v in r.values.items() if v is not pgoutput.UNCHANGED} for r in group]
                )
                statement = sql.SQL(_TYPED).format(row=row_sql(table.columns), table=table_sql(name))
                for index, doc in self._conn.execute(statement, {"rows": payload}).fetchall():
                    group[int(index) - 1].typed = doc
                for row in group:
                    if row.unchanged and row.typed is not None:
                        row.typed = self._current(table, row.typed)

    def _current(self, table: Table, doc: dict[str, Any]) -> dict[str, Any] | None:
        """The row as it is now; None when it is gone (its delete is on its way)."""
        statement = sql.SQL(_CURRENT_ROW).format(
            row=row_sql(table.columns),
            table=table_sql(table.name),
            key=sql.SQL(", ").join(map(sql.Identifier, table.key)),
            values=sql.SQL(", ").join(sql.Placeholder() * len(table.key)),
        )
        found = self._conn.execute(statement, [doc.get(column) for column in table.key]).fetchone()
        return dict(found[0]) if found else None

    def _sql(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(schema=sql.Identifier(self._schema))


@dataclass
class _Relation:
    """A table as the slot describes it, with how its rows are typed here per mapped table (None: by
    PostgreSQL)."""

    relation: pgoutput.Relation
    layouts: dict[str, texts.Layout | None] = field(default_factory=dict)

    def layout(self, table: Table) -> texts.Layout | None:
        if table.name not in self.layouts:
            self.layouts[table.name] = texts.layout(self.relation.columns, *table.columns.listing())
        return self.layouts[table.name]


def _row(known: _Relation, table: Table, op: Operation, values: pgoutput.Tuple) -> _Row:
    """A row typed here when every column the mapping takes allows (see texts), else left to PostgreSQL."""
    layout = known.layout(table)
    typed = texts.typed(layout, values) if layout is not None else None
    if typed is not None:
        return _Row(table, op, {}, typed=typed)
    text = _values(known.relation, values)
    return _Row(table, op, text, unchanged=any(value is pgoutput.UNCHANGED for value in text.values()))


def _values(relation: pgoutput.Relation, values: pgoutput.Tuple) -> dict[str, Any]:
    """Column name to value; JSON columns parsed here, as `jsonb_populate_record` would take their text as a
    JSON string."""
    row: dict[str, Any] = {}
    for column, value in zip(relation.columns, values, strict=True):
        if isinstance(value, str) and column.type_oid in _JSON_TYPES:
            row[column.name] = json.loads(value)
        else:
            row[column.name] = value
    return row


def _first(transactions: list[_Transaction], limit: int) -> list[_Transaction]:
    """The oldest whole transactions holding up to `limit` changes (at least one transaction)."""
    taken, changes = 0, 0
    for transaction in transactions:
        changes += len(transaction.rows) + len(transaction.events)
        if taken and changes > limit:
            break
        taken += 1
    return transactions[:taken]


def _hashable(key: Any) -> Any:
    """A key to fold a transaction's changes by: itself when it is a number or text (most are), else its
    JSON text (a composite key is a list)."""
    return key if type(key) in (int, str) else json.dumps(key, default=str)


def _change(row: _Row, version: int) -> Change | None:
    if row.typed is None:
        return None
    doc = dict(row.typed)
    return Change(entity=row.table.entity, key=row.table.key_value(doc), op=row.op, version=version, data=doc)
