"""A large, simple data set for reconciliation: accounts in PostgreSQL, each even one the child of another,
and drift made directly in the target graph, with the differences it must produce.

Drift ids come from disjoint pools, so every difference has exactly one cause:
deletes from odd ids above n/2 (no account points at them), edits and dropped
parent links from the rest, extras above n.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import neo4j
import psycopg
from psycopg import sql

DDL = """
CREATE TABLE {table} (
    id bigint PRIMARY KEY, name text NOT NULL, score double precision, tags text[], parent_id bigint
)
"""
LOAD = """
INSERT INTO {table}
SELECT i, 'account ' || i, i * 0.25, ARRAY['t' || (i %% 7), 'all'], CASE WHEN i %% 2 = 0 THEN i / 2 END
FROM generate_series(1, %s) AS i
"""


def mappings(table: str) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "name": "account",
                "table": table,
                "labels": ["Account"],
                "key": "id",
                "foreignKeys": [{"column": "parent_id", "references": "account", "type": "CHILD_OF"}],
            }
        ]
    }


def load(conn: psycopg.Connection[Any], table: str, count: int) -> None:
    name = sql.Identifier(*table.split("."))
    conn.execute(sql.SQL(DDL).format(table=name))
    conn.execute(sql.SQL(LOAD).format(table=name), (count,))


@dataclass(frozen=True)
class Drift:
    deleted: list[int]
    edited: list[int]
    unlinked: list[int]
    extra: list[int]

    @property
    def total(self) -> int:
        return len(self.deleted) + len(self.edited) + len(self.unlinked) + len(self.extra)


def drift(count: int, fraction: float = 0.001, seed: int = 11) -> Drift:
    """A quarter of the drift of each kind."""
    each = max(1, int(count * fraction) // 4)
    rng = random.Random(seed)
    deleted = rng.sample(range(count // 2 + 1 | 1, count + 1, 2), each)
    rest = rng.sample(range(2, count // 2, 2), 2 * each)
    return Drift(
        deleted=sorted(deleted),
        edited=sorted(rest[:each]),
        unlinked=sorted(rest[each:]),
        extra=list(range(count + 1, count + 1 + each)),
    )


def apply_drift(driver: neo4j.Driver, made: Drift) -> None:
    driver.execute_query("MATCH (a:Account) WHERE a.id IN $ids DETACH DELETE a", ids=made.deleted)
    driver.execute_query("MATCH (a:Account) WHERE a.id IN $ids SET a.name = 'drifted'", ids=made.edited)
    driver.execute_query("MATCH (a:Account)-[r:CHILD_OF]->() WHERE a.id IN $ids DELETE r", ids=made.unlinked)
    # Half look synced (a version), half were written by hand.
    driver.execute_query(
        "UNWIND $ids AS id CREATE (a:Account {id: id, name: 'extra'}) "
        "WITH a, id WHERE id % 2 = 0 SET a._graphsync_version = 1",
        ids=made.extra,
    )
