"""What a peek decodes into (pure): batches of whole transactions, changes folded per entity."""

from __future__ import annotations

from graphsync.change import Operation
from graphsync.connectors.postgres.logical import pgoutput
from graphsync.connectors.postgres.logical.decoded import Relation, Transaction, decoded_row, first
from graphsync.connectors.postgres.tables import Table

TABLE = Table("customer", "public.customer", ("id",))
RELATION = Relation(
    pgoutput.Relation(
        1, "public", "customer", "d", (pgoutput.Column("id", 20, key=True), pgoutput.Column("name", 25, key=False))
    )
)


def _transaction(xid: int, *rows: tuple[Operation, str, str | None]) -> Transaction:
    transaction = Transaction(xid=xid, commit_lsn=xid * 100, end_lsn=xid * 100 + 1)
    transaction.rows = [decoded_row(RELATION, TABLE, op, (key, name)) for op, key, name in rows]
    return transaction


def test_a_batch_is_whole_transactions_up_to_the_limit_and_at_least_one() -> None:
    small = [_transaction(i, (Operation.UPSERT, str(i), "a"), (Operation.UPSERT, str(i + 100), "b")) for i in (1, 2, 3)]
    assert [t.xid for t in first(small, 4)] == [1, 2]
    assert [t.xid for t in first(small, 5)] == [1, 2]
    assert [t.xid for t in first(small, 1)] == [1]  # larger than the limit: alone
    assert first([], 10) == []


def test_a_transaction_s_changes_fold_into_each_entity_s_last() -> None:
    transaction = _transaction(
        7,
        (Operation.UPSERT, "1", "first"),
        (Operation.UPSERT, "2", "other"),
        (Operation.DELETE, "1", None),
        (Operation.UPSERT, "1", "last"),
    )
    changes = transaction.changes()
    assert [(c.key, c.op, c.data.get("name")) for c in changes] == [
        (2, Operation.UPSERT, "other"),
        (1, Operation.UPSERT, "last"),
    ]
    assert {c.version for c in changes} == {700}


def test_a_row_of_types_typed_here_needs_no_postgres_and_one_with_an_unsent_value_does() -> None:
    typed = decoded_row(RELATION, TABLE, Operation.UPSERT, ("5", "Ada"))
    assert typed.typed == {"id": 5, "name": "Ada"}
    unsent = decoded_row(RELATION, TABLE, Operation.UPSERT, ("5", pgoutput.UNCHANGED))
    assert unsent.typed is None
    assert unsent.unchanged
