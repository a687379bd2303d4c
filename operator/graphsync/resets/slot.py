"""The position of a logical pipeline: its replication slot, moved forward only.

The changes to pass over are decoded first (a peek, which moves nothing), so the reset can say how many it
skips and where whole transactions end: a slot is moved to the end of a transaction, never into one. The
outbox events the application published in them are marked completed, with the reset's name as the reason.
A slot cannot go back: PostgreSQL has freed the WAL behind its confirmed position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from graphsync.connectors.postgres.logical import pgoutput
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.resets.moves import Move, Refused
from graphsync.spec.identifiers import check
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.resets import END, CheckpointReset

_PEEK = """
SELECT data FROM pg_logical_slot_peek_binary_changes(
    %(slot)s, %(upto)s::pg_lsn, NULL, 'proto_version', '1', 'publication_names', %(publications)s)
"""
_CURRENT = "SELECT pg_current_wal_lsn()::text"
_ADVANCE = "SELECT pg_replication_slot_advance(%(slot)s, %(lsn)s::pg_lsn)"
_CHANGES = (pgoutput.Insert, pgoutput.Update, pgoutput.Delete)
# Messages fetched per round trip of the peek.
FETCH = 2000


@dataclass
class Passed:
    """What moving the slot passes over: changes, whole transactions, the end of the last, outbox events."""

    changes: int = 0
    transactions: int = 0
    end: int | None = None
    events: list[int] = field(default_factory=list)


class SlotPosition:
    def __init__(self, spec: PipelineSpec, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn
        self._slot = Slot(spec.identity, spec.postgres.schema_)
        self._outbox = Outbox(spec.postgres.schema_, pipeline=spec.identity)
        self._outbox_table = f"{check(spec.postgres.schema_)}.outbox"

    def plan(self, reset: CheckpointReset) -> Move:
        state = self._slot.state(self._conn)
        if state is None:
            raise Refused("the pipeline has no replication slot yet (it has not run): there is nothing to move")
        if state["active"]:
            # Another process reads it (a worker not yet stopped): tried again after a pause.
            raise RuntimeError(f"replication slot {self._slot.name} is in use by another process")
        confirmed = str(state["confirmed"])
        current = self._conn.execute(_CURRENT).fetchone()
        upto = reset.to if reset.to not in (None, END) else str(current[0] if current else confirmed)
        if pgoutput.lsn_value(upto) <= pgoutput.lsn_value(confirmed) and reset.to not in (None, END):
            raise Refused(
                f"to: {reset.to} is not past the slot's confirmed position {confirmed}: a slot cannot go back "
                "(declare a backfill to write entities again)"
            )
        passed = self._passed(upto, reset.forward)
        target = pgoutput.lsn_text(passed.end) if reset.forward is not None and passed.end is not None else upto
        if pgoutput.lsn_value(target) < pgoutput.lsn_value(confirmed):
            target = confirmed
        message = (
            f"{passed.changes} change(s) in {passed.transactions} transaction(s) are skipped: "
            f"the slot moves from {confirmed} to {target}"
        )
        return Move({"confirmed": confirmed}, {"confirmed": target}, passed.changes, message)

    def apply(self, reset: CheckpointReset, move: Move) -> None:
        target = str(move.after["confirmed"])
        state = self._slot.state(self._conn)
        if state is None or pgoutput.lsn_value(str(state["confirmed"])) >= pgoutput.lsn_value(target):
            return  # applied before this process ended
        # The events are found again from the slot, which has not moved yet: settled, then passed over.
        events = self._passed(target, None).events
        self._outbox.skip(self._conn, events, f"skipped by checkpoint reset {reset.name}")
        self._conn.execute(_ADVANCE, {"slot": self._slot.name, "lsn": target})

    def _passed(self, upto: str, limit: int | None) -> Passed:
        """Decode what commits up to `upto`; with `limit`, stop at the end of the transaction that reaches it."""
        passed = Passed()
        relations: dict[int, pgoutput.Relation] = {}
        in_transaction = 0
        with self._conn.transaction(), self._conn.cursor(name="graphsync_reset_peek") as cursor:
            cursor.itersize = FETCH
            cursor.execute(_PEEK, {"slot": self._slot.name, "upto": upto, "publications": self._slot.publications})
            for (data,) in cursor:
                message = pgoutput.decode(bytes(data))
                if isinstance(message, pgoutput.Relation):
                    relations[message.oid] = message
                elif isinstance(message, _CHANGES):
                    in_transaction += 1
                    self._event(message, relations, passed)
                elif isinstance(message, pgoutput.Commit):
                    passed.changes += in_transaction
                    passed.transactions += 1
                    passed.end = message.end_lsn
                    in_transaction = 0
                    if limit is not None and passed.changes >= limit:
                        break
        return passed

    def _event(self, message: Any, relations: dict[int, pgoutput.Relation], passed: Passed) -> None:
        """An outbox event the application published in a transaction passed over."""
        relation = relations.get(message.relation)
        if relation is None or relation.qualified != self._outbox_table or not isinstance(message, pgoutput.Insert):
            return
        values = dict(zip((column.name for column in relation.columns), message.new, strict=True))
        event = values.get("id")
        if isinstance(event, str) and event.isdigit():
            passed.events.append(int(event))
