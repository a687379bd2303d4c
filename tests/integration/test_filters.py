"""Row filters on real servers: only rows meeting a mapping's filter are in the target, while three connections
move rows in and out of it; the reconciliation applies the same filter (in sync, then an entity the filter turns
away, written by hand, is extra and repaired away).

A row that leaves the filter must leave the target as if deleted, and one that comes back must come back: both
happen many times over during the run, so a sync that only filtered new rows would leave stale entities behind.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import neo4j
import psycopg
from psycopg import sql

from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests.integration.faults import Watched, Writers, converge
from tests.integration.test_pg_to_neo4j import make_spec, seed, sync

__all__ = ["make_spec"]

Conn = psycopg.Connection[Any]
CUSTOMERS = 300
TIERS = ("gold", "silver", "bronze", None)


def mappings(schema: str) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "name": "customer",
                "table": f"{schema}.customer",
                "labels": ["Customer"],
                "key": "id",
                "properties": {"exclude": ["secret"]},
                "filter": [{"column": "tier", "operator": "In", "values": ["gold", "silver"]}],
            },
            {"name": "product", "table": f"{schema}.product", "labels": ["Product"], "key": "id"},
        ],
        "relationships": [
            {
                "name": "likes",
                "table": f"{schema}.likes",
                "type": "LIKES",
                "from": {"column": "customer_id", "references": "customer"},
                "to": {"column": "product_id", "references": "product"},
                "key": ["customer_id", "product_id"],
                "filter": [{"column": "stars", "operator": "Ge", "values": [3]}],
            }
        ],
    }


class Moving(Writers):
    """Connections moving customers between tiers and likes between star counts: in and out of the filters."""

    def _write(self, seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
            while not self._stop.is_set():
                key = rng.randint(1, CUSTOMERS)
                if rng.random() < 0.5:
                    conn.execute("UPDATE customer SET tier = %s WHERE id = %s", (rng.choice(TIERS), key))
                else:
                    conn.execute("UPDATE likes SET stars = %s WHERE customer_id = %s", (rng.randint(1, 5), key))
                self.committed += 1
                time.sleep(0.003)


def in_source(conn: Conn) -> tuple[dict[int, str], set[tuple[int, int, int]]]:
    customers = dict(conn.execute("SELECT id, tier FROM customer WHERE tier IN ('gold', 'silver')").fetchall())
    likes = {tuple(row) for row in conn.execute("SELECT customer_id, product_id, stars FROM likes WHERE stars >= 3")}
    return customers, likes


def in_target(driver: neo4j.Driver) -> tuple[dict[int, str], set[tuple[int, int, int]]]:
    # A customer the filter turned away may stay as a bare placeholder a like points at: no entity of its own.
    nodes, _, _ = driver.execute_query("MATCH (c:Customer) WHERE c.name IS NOT NULL RETURN c.id AS id, c.tier AS tier")
    edges, _, _ = driver.execute_query("MATCH (a:Customer)-[r:LIKES]->(p:Product) RETURN a.id, p.id, r.stars")
    return {row["id"]: row["tier"] for row in nodes}, {tuple(row.values()) for row in edges}


def test_rows_moving_in_and_out_of_a_filter_under_live_writers(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, postgres_service: Service
) -> None:
    seed(pg_conn, schema, customers=CUSTOMERS)
    pg_conn.execute("UPDATE customer SET tier = (ARRAY['gold', 'silver', 'bronze'])[id % 3 + 1]")
    spec = make_spec("logical", mode="snapshotThenStream", transport=None, mappings=mappings(schema))
    sync(spec)
    # The snapshot took the rows the filters admit, and nothing else.
    assert in_target(neo4j_driver) == in_source(pg_conn)
    assert len(in_source(pg_conn)[0]) == CUSTOMERS * 2 // 3

    live = Watched(spec)
    with Moving(postgres_service.env["GRAPHSYNC_PG_DSN"], schema) as writers:
        live.start()
        time.sleep(12)
    converge(lambda: in_target(neo4j_driver), lambda: in_source(pg_conn), within=60)
    live.finish()
    assert live.errors == []
    assert writers.committed > 1000

    # The reconciliation reads the source through the same filter: nothing missing, nothing extra.
    clean = reconcile(spec, ReconcileSpec(), threading.Event())
    assert clean.outcome is Outcome.IN_SYNC, clean.summary()
    turned_away = pg_conn.execute("SELECT min(id) FROM customer WHERE tier = 'bronze' OR tier IS NULL").fetchone()
    assert turned_away is not None
    neo4j_driver.execute_query(
        "MERGE (c:Customer {id: $id}) SET c.name = 'by hand', c.tier = 'bronze'", id=turned_away[0]
    )
    found = reconcile(spec, ReconcileSpec(), threading.Event())
    customer = next(entity for entity in found.entities if entity.entity == "customer")
    assert (customer.missing, customer.extra, customer.different) == (0, 1, 0)
    repaired = reconcile(spec, ReconcileSpec.model_validate({"action": "repair"}), threading.Event())
    assert repaired.outcome is Outcome.REPAIRED
    assert in_target(neo4j_driver) == in_source(pg_conn)
