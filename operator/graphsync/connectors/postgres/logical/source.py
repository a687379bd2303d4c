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
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from graphsync.change import Change, Operation
from graphsync.connectors.postgres.logical import pgoutput
from graphsync.connectors.postgres.logical.decoded import (
    Relation,
    Row,
    Transaction,
    decoded_row,
    first,
    text_values,
)
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
IDLE_POLL_SECONDS = 0.05
IDLE_READ_SECONDS = 0.5
IDLE_ADVANCE_SECONDS = 1.0
BACKLOG_EVERY_SECONDS = 5.0
TRUNCATE_WAIT_SECONDS = 30.0
# A peek, and a move of the slot, decode the WAL again from the slot's restart position, which PostgreSQL moves
# only about every 15 s (when it logs the running transactions): at 20,000 changes/s, hundreds of thousands
# of changes decoded again for each. So a peek reads this many batches ahead, and the slot is moved at most
# once a second (what the target committed meanwhile is skipped by the peeks, not handed over again).
PEEKED_BATCHES = 8
ADVANCE_EVERY_SECONDS = 1.0


@dataclass(frozen=True)
class _Handed:
    """A transaction handed over and not yet committed: its messages are counted in the next peek's limit."""

    xid: int
    end_lsn: int
    messages: int


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
        self._peeked: list[Transaction] = []
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
        transactions = self._up_to_truncate(first(self._peeked, limit))
        if not transactions:
            return Batch(changes=[])
        del self._peeked[: len(transactions)]
        changes = self._changes(transactions)
        with self._lock:
            self._handed.extend(_Handed(t.xid, t.end_lsn, t.messages) for t in transactions)
        return Batch(changes=changes, token=transactions[-1].end_lsn)

    def _up_to_truncate(self, transactions: list[Transaction]) -> list[Transaction]:
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
                self._acknowledge(now=True)
            except psycopg.Error as exc:
                log.warning("the slot stays where it was, its changes will be handed over again: %s", exc)

    def close(self) -> None:
        self._conn.close()

    def _unapplied(self) -> bool:
        with self._acks:
            return any(handed.end_lsn > self._applied for handed in self._handed)

    def _acknowledge(self, *, now: bool = False) -> None:
        """Settle this pipeline's outbox events the target took and move the slot past what it committed, at
        most every ADVANCE_EVERY_SECONDS unless `now`; called with `_lock` held. Noted again on an error: a
        lost connection ends the run anyway."""
        with self._acks:
            applied, own = self._applied, self._settling
            self._settling = []
        due = now or time.monotonic() - self._advanced_at >= ADVANCE_EVERY_SECONDS
        moves = due and bool(self._handed) and applied >= self._handed[0].end_lsn
        try:
            if own:
                self._conn.execute(self._sql(_SETTLE), {"ids": own, "pipeline": self._pipeline})
            if moves:
                self._conn.execute(_ADVANCE, {"slot": self._slot.name, "lsn": pgoutput.lsn_text(applied)})
        except BaseException:
            with self._acks:
                self._settling = own + self._settling
            raise
        if moves:
            self._advanced_at = time.monotonic()
            self._handed = [handed for handed in self._handed if handed.end_lsn > applied]

    def _peek(self, limit: int) -> list[Transaction]:
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

    def _transactions(self, messages: Any) -> list[Transaction]:
        relations: dict[int, Relation] = {}
        found: list[Transaction] = []
        current: Transaction | None = None
        for data in messages:
            message = pgoutput.decode(data)
            if isinstance(message, pgoutput.Relation):
                relations[message.oid] = Relation(message)
            elif isinstance(message, pgoutput.Begin):
                current = Transaction(xid=message.xid, commit_lsn=message.final_lsn, end_lsn=0, messages=1)
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

    def _take(self, transaction: Transaction, message: pgoutput.Message, relations: dict[int, Relation]) -> None:
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
                    event = self._event(text_values(relation, message.new), transaction.commit_lsn)
                    if event is not None:
                        transaction.events.append(event)
                return
            table = self._tables.get(relation.qualified)
            if table is None:
                return
            if isinstance(message, pgoutput.Delete):
                transaction.rows.append(decoded_row(known, table, Operation.DELETE, message.old))
                return
            if isinstance(message, pgoutput.Update) and message.old is not None:
                # The old key (or row): sent when it changed, or with REPLICA IDENTITY FULL.
                transaction.rows.append(decoded_row(known, table, Operation.DELETE, message.old))
            transaction.rows.append(decoded_row(known, table, Operation.UPSERT, message.new))

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

    def _changes(self, transactions: list[Transaction]) -> list[Change]:
        self._type([row for t in transactions for row in t.rows])
        return [change for transaction in transactions for change in transaction.changes()]

    def _type(self, rows: list[Row]) -> None:
        """Typed JSON for every row, one statement per table; rows with an unchanged TOASTed value read again."""
        by_table: dict[str, list[Row]] = {}
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
