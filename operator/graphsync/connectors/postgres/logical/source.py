"""Reading a pipeline's changes from its logical replication slot, acknowledged only once applied.

The slot is streamed (see stream.py): PostgreSQL decodes each change once and sends whole transactions in
commit order. `read` decodes the pgoutput messages and hands over whole transactions, a batch at a time.
`commit`, called by the runner after the target committed them, notes how far the target has them; the
reader then settles this pipeline's outbox events in them and confirms that position to the stream, which
tells the server (the slot's confirmed position); `flush` does it as a run ends. A crash in between
delivers them again, and versions make that harmless.

A change's version is its transaction's commit LSN: commit order, the order PostgreSQL made the
changes visible in, so a transaction that commits late still wins over what committed before it.
One transaction's several changes to one entity are folded into the last (a transaction is atomic).

Values arrive as text: typed here where the column types allow (texts.py), else PostgreSQL turns them back
into typed JSON (`jsonb_populate_record` then `to_jsonb`, the form snapshot reads and triggers give), one
statement per table and batch. An UPDATE that left a TOASTed value unchanged does not carry it: such a row
is read again by its key.

With nothing of the pipeline received and unapplied, a keepalive's position is confirmed, so a busy database
with quiet mapped tables does not keep its WAL for this slot.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
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
from graphsync.connectors.postgres.logical.stream import Keepalive, Stream
from graphsync.connectors.postgres.tables import Table, row_sql, table_sql
from graphsync.runner.contracts import Batch, Rejection
from graphsync.spec import identifiers

log = logging.getLogger(__name__)

_QUALIFIED = """
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.oid = %(table)s::regclass
"""
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
BACKLOG_EVERY_SECONDS = 5.0
TRUNCATE_WAIT_SECONDS = 30.0


class LogicalSource:
    def __init__(
        self,
        conn: psycopg.Connection[Any],
        stream: Stream,
        slot: Slot,
        tables: Sequence[Table],
        *,
        schema: str,
        pipeline: str,
    ) -> None:
        self._conn = conn
        self._stream = stream
        self._slot = slot
        self._tables = {table.name: table for table in tables}
        self._by_entity = {table.entity: table for table in tables}
        self._outbox = f"{identifiers.check(schema)}.outbox"
        self._schema = schema
        self._pipeline = pipeline
        # The reader and a run's end (flush) share the connection.
        self._lock = threading.Lock()
        # The stream's decoding state: tables as last described (sent once per stream), the transaction being
        # received, whole transactions received and not yet handed over (oldest first).
        self._relations: dict[int, Relation] = {}
        self._receiving: Transaction | None = None
        self._received: list[Transaction] = []
        # End positions of transactions handed over that are not yet confirmed, oldest first.
        self._handed: list[int] = []
        # How far the target committed (an end LSN) and the outbox events of this pipeline it took: settled
        # and confirmed by the reader; the writer only notes them here.
        self._acks = threading.Lock()
        self._applied = -1
        self._settling: list[int] = []
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
        self._stream.start()

    def read(self, limit: int) -> Batch:
        with self._lock:
            self._acknowledge()
        self._receive(limit)
        transactions = self._up_to_truncate(first(self._received, limit))
        if not transactions:
            return Batch(changes=[])
        del self._received[: len(transactions)]
        changes = self._changes(transactions)
        with self._acks:
            self._handed.extend(t.end_lsn for t in transactions)
        return Batch(
            changes=changes,
            token=transactions[-1].end_lsn,
            committed=tuple((t.committed_at, t.size) for t in transactions),
        )

    def _receive(self, limit: int) -> None:
        """Decode what the stream sends until `limit` changes are in whole transactions, or until it has
        nothing more at once (with a transaction to hand over) or for IDLE_READ_SECONDS (with none, and
        none half received)."""
        deadline = time.monotonic() + IDLE_READ_SECONDS
        while sum(t.size for t in self._received) < limit:
            wait = deadline - time.monotonic()
            if self._received:
                wait = 0.0
            elif self._receiving is not None:
                wait = max(wait, IDLE_POLL_SECONDS)
            arrived = self._stream.receive(max(0.0, wait))
            for item in arrived:
                if isinstance(item, Keepalive):
                    self._caught_up(item.wal_end)
                else:
                    self._decode(item)
            # A transaction half received is waited for however long it takes to arrive: an empty read
            # tells the runner the source is caught up.
            quiet = time.monotonic() >= deadline and self._receiving is None
            if not arrived and (self._received or quiet):
                break
        if self.on_backlog is not None and time.monotonic() - self._measured_at >= BACKLOG_EVERY_SECONDS:
            with self._lock:
                held = self._slot.lag_bytes(self._conn)
            if held is not None:
                self.on_backlog(held)
            self._measured_at = time.monotonic()

    def _caught_up(self, wal_end: int) -> None:
        """The server sent every change committed before `wal_end`: with none of them waiting here or in the
        target, the slot may move there (the WAL of other tables, and of quiet ones, is not kept)."""
        with self._lock:
            self._acknowledge()
        with self._acks:
            waiting = bool(self._handed) or bool(self._settling)
        if not waiting and self._receiving is None and not self._received:
            self._stream.confirm(wal_end)

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
        """Confirm what the target committed and end the stream, as a run ends (the next worker then starts
        there); on a connection already lost it does nothing: the next worker is handed those again."""
        if self._conn.closed or self._conn.broken:
            return
        with self._lock:
            try:
                self._acknowledge()
                self._stream.finish()
            except psycopg.Error as exc:
                log.warning("the slot stays where it was, its changes will be handed over again: %s", exc)

    def close(self) -> None:
        self._conn.close()

    def _unapplied(self) -> bool:
        with self._acks:
            return any(end > self._applied for end in self._handed)

    def _acknowledge(self) -> None:
        """Settle this pipeline's outbox events the target took, then confirm the end of what it committed;
        called with `_lock` held. Noted again on an error: a lost connection ends the run anyway."""
        with self._acks:
            applied, own = self._applied, self._settling
            self._settling = []
        try:
            if own:
                self._conn.execute(self._sql(_SETTLE), {"ids": own, "pipeline": self._pipeline})
        except BaseException:
            with self._acks:
                self._settling = own + self._settling
            raise
        with self._acks:
            if self._handed and applied >= self._handed[0]:
                self._stream.confirm(applied)
                self._handed = [end for end in self._handed if end > applied]

    def _decode(self, data: bytes) -> None:
        """One pgoutput message of the stream: whole transactions go to `_received`."""
        message = pgoutput.decode(data)
        if isinstance(message, pgoutput.Relation):
            self._relations[message.oid] = Relation(message)
        elif isinstance(message, pgoutput.Begin):
            self._receiving = Transaction(
                xid=message.xid, commit_lsn=message.final_lsn, end_lsn=0, committed_at=message.committed_at
            )
        elif isinstance(message, pgoutput.Commit):
            if self._receiving is None:
                raise pgoutput.DecodeError("a commit without its begin")
            self._receiving.end_lsn = message.end_lsn
            self._received.append(self._receiving)
            self._receiving = None
        elif self._receiving is not None:
            self._take(self._receiving, message)

    def _take(self, transaction: Transaction, message: pgoutput.Message) -> None:
        if isinstance(message, pgoutput.Truncate):
            for oid in message.relations:
                known = self._relations.get(oid)
                table = self._tables.get(known.relation.qualified) if known is not None else None
                if table is not None:
                    transaction.truncated.append(table.entity)
            return
        if isinstance(message, pgoutput.Insert | pgoutput.Update | pgoutput.Delete):
            known = self._relations[message.relation]
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
