"""A pipeline's logical replication slot and publications: created, kept in step with the mapping, dropped.

Named from a hash of the pipeline's identity (like its triggers), so pipelines sharing a table each have
their own slot and get every change. Two publications feed the slot:
- the mapped tables, each with a column list of what the mapping uses: an excluded column is never
  decoded, let alone sent;
- inserts into the engine's outbox for this pipeline or for no pipeline (a replayed dead letter, an event
  the application published), filtered in the server. Insert-only, so the filter on `pipeline` cannot make
  an UPDATE of the outbox fail for want of a replica identity.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from graphsync.connectors.postgres.tables import Table, tables_of
from graphsync.spec import identifiers
from graphsync.spec.mapping import Mappings

_SLOT = "SELECT 1 FROM pg_replication_slots WHERE slot_name = %(slot)s"
_CREATE_SLOT = "SELECT pg_create_logical_replication_slot(%(slot)s, 'pgoutput')"
_DROP_SLOT = "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %(slot)s"
# The connection streaming the slot (a worker of the pipeline being removed, not yet gone): a slot in use
# cannot be dropped.
_END_READER = """
SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE slot_name = %(slot)s AND active_pid IS NOT NULL
"""
# How long a removal waits for the ended reader to let go of the slot.
RELEASE_SECONDS = 10.0
_PUBLICATION = "SELECT 1 FROM pg_publication WHERE pubname = %(name)s"
_STATE = """
SELECT confirmed_flush_lsn::text, restart_lsn::text, active,
       pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
FROM pg_replication_slots WHERE slot_name = %(slot)s
"""
_LAG = """
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots
WHERE slot_name = %(slot)s
"""
# The table's columns, which of them the replica identity holds, and the identity kind (d, n, f, i).
_IDENTITY = """
SELECT c.relreplident, a.attname,
       a.attnum = ANY(coalesce(
           CASE c.relreplident
               WHEN 'd' THEN (SELECT i.indkey::int2[] FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)
               WHEN 'i' THEN (SELECT i.indkey::int2[] FROM pg_index i WHERE i.indrelid = c.oid AND i.indisreplident)
           END, '{}'))
FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
WHERE c.oid = %(table)s::regclass
ORDER BY a.attnum
"""


def slot_name(identity: str) -> str:
    """`graphsync_` and 12 hex digits of the identity's hash: slot names allow only [a-z0-9_], 63 bytes."""
    return "graphsync_" + hashlib.sha256(identity.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class TableShape:
    """What the server says of a mapped table: its columns, and those its replica identity holds."""

    name: str
    columns: tuple[str, ...]
    identity: str
    identity_columns: tuple[str, ...]


def delete_columns(mappings: Mappings) -> dict[str, tuple[str, ...]]:
    """Per entity type, the columns a delete must carry: a node's key; a relationship's key and both ends."""
    needed: dict[str, tuple[str, ...]] = {m.name: (m.key,) for m in mappings.nodes}
    for r in mappings.relationships:
        needed[r.name] = tuple(dict.fromkeys((*r.key, r.source.column, r.target.column)))
    return needed


def identity_problem(table: Table, shape: TableShape, needed: Sequence[str]) -> str | None:
    """Why deletes and key changes of `table` could not be captured (pure), or None.

    A delete carries only the replica identity's columns, which must hold what the sink needs to find the
    entity (`needed`, see `delete_columns`); without any identity PostgreSQL would even refuse the
    application's own UPDATEs and DELETEs once the table is published.
    """
    fix = f"ALTER TABLE {shape.name} REPLICA IDENTITY FULL, or give it a primary key on ({', '.join(needed)})"
    if shape.identity == "f":
        return None
    if shape.identity == "n" or not shape.identity_columns:
        return f"capture logical: table {shape.name} has no replica identity, so its deletes carry no key; {fix}"
    missing = [column for column in needed if column not in shape.identity_columns]
    if missing:
        held = ", ".join(shape.identity_columns)
        return (
            f"capture logical: the replica identity of {shape.name} ({held}) lacks column(s) {', '.join(missing)}"
            f" that a delete of {table.entity} needs; {fix}"
        )
    return None


def published_columns(table: Table, shape: TableShape) -> list[str] | None:
    """The column list of `table` in the publication: what the mapping keeps, plus the replica identity's
    columns (PostgreSQL requires them in the list of a table whose updates and deletes are published). None
    (no list) when the mapping takes every column: a column added later is then published at once, and one
    dropped needs no CASCADE (a list makes the publication depend on each column in it)."""
    kept = table.columns.apply(dict.fromkeys(shape.columns))
    listed = [c for c in shape.columns if c in kept or c in shape.identity_columns]
    return None if table.columns.keep is None and not table.columns.drop else listed


class Slot:
    def __init__(self, identity: str, schema: str) -> None:
        self.name = slot_name(identity)
        self.events = f"{self.name}_events"
        self.identity = identity
        self._schema = identifiers.check(schema)

    @property
    def publications(self) -> str:
        """The `publication_names` option of the slot's reads."""
        return f"{self.name},{self.events}"

    def shape(self, conn: psycopg.Connection[Any], table: str) -> TableShape:
        rows = conn.execute(_IDENTITY, {"table": table}).fetchall()
        if not rows:
            raise ValueError(f"capture logical: table {table} has no columns")
        return TableShape(
            name=table,
            columns=tuple(str(r[1]) for r in rows),
            identity=str(rows[0][0]),
            identity_columns=tuple(str(r[1]) for r in rows if r[2]),
        )

    def install(self, conn: psycopg.Connection[Any], mappings: Mappings) -> None:
        """Create or update the publications, then create the slot if missing (it streams what commits from
        then on). Raises ValueError naming a table it cannot capture."""
        lists = []
        needed = delete_columns(mappings)
        for table in tables_of(mappings):
            shape = self.shape(conn, table.name)
            problem = identity_problem(table, shape, needed[table.entity])
            if problem is not None:
                raise ValueError(problem)
            published: sql.Composable = sql.Identifier(*table.name.split("."))
            columns = published_columns(table, shape)
            if columns is not None:
                published = sql.SQL("{} ({})").format(published, sql.SQL(", ").join(map(sql.Identifier, columns)))
            lists.append(published)
        with conn.transaction():
            # Two workers of one pipeline starting together must not both create them.
            conn.execute("SELECT pg_advisory_xact_lock(hashtext('graphsync.slot'), hashtext(%s))", (self.name,))
            listed = sql.SQL(", ").join(lists)
            if conn.execute(_PUBLICATION, {"name": self.name}).fetchone():
                conn.execute(sql.SQL("ALTER PUBLICATION {} SET TABLE {}").format(sql.Identifier(self.name), listed))
            else:
                conn.execute(sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(sql.Identifier(self.name), listed))
            if not conn.execute(_PUBLICATION, {"name": self.events}).fetchone():
                conn.execute(
                    sql.SQL(
                        "CREATE PUBLICATION {} FOR TABLE {}.outbox WHERE (pipeline IS NULL OR pipeline = {})"
                        " WITH (publish = 'insert')"
                    ).format(sql.Identifier(self.events), sql.Identifier(self._schema), sql.Literal(self.identity))
                )
        # Outside the transaction: a slot cannot be created in one that has written.
        if not conn.execute(_SLOT, {"slot": self.name}).fetchone():
            conn.execute(_CREATE_SLOT, {"slot": self.name})

    def remove(self, conn: psycopg.Connection[Any]) -> list[str]:
        """Drop the slot and publications; returns those that existed, as `slot NAME`, `publication NAME`."""
        dropped = []
        if self._drop_slot(conn):
            dropped.append(f"slot {self.name}")
        for publication in (self.name, self.events):
            if conn.execute(_PUBLICATION, {"name": publication}).fetchone():
                conn.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(publication)))
                dropped.append(f"publication {publication}")
        return dropped

    def _drop_slot(self, conn: psycopg.Connection[Any]) -> bool:
        """Drop the slot, ending a worker still streaming it first; True when there was one."""
        deadline = time.monotonic() + RELEASE_SECONDS
        while True:
            conn.execute(_END_READER, {"slot": self.name})
            try:
                return conn.execute(_DROP_SLOT, {"slot": self.name}).fetchone() is not None
            except psycopg.errors.ObjectInUse:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def state(self, conn: psycopg.Connection[Any]) -> dict[str, Any] | None:
        """Where the slot stands (confirmed and restart positions, in use, WAL held); None when there is none."""
        row = conn.execute(_STATE, {"slot": self.name}).fetchone()
        if row is None:
            return None
        confirmed, restart, active, held = row
        return {"confirmed": confirmed, "restart": restart, "active": bool(active), "heldBytes": held}

    def lag_bytes(self, conn: psycopg.Connection[Any]) -> int | None:
        """How much WAL the slot holds back from being recycled; None when there is no slot."""
        row = conn.execute(_LAG, {"slot": self.name}).fetchone()
        return int(row[0]) if row and row[0] is not None else None
