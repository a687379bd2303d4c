"""Repairs next to a live pipeline, and outcomes that say what a repair could not do.

A ReconciliationJob repairing while the pipeline streams is the normal case: what the walk read may be
overtaken before the repair writes. Three connections keep changing rows all over the shop while repairs
run back to back over tables large enough that reading the target takes a while; once the writers stop,
the target must equal PostgreSQL (a repair that wrote an older read over a newer change, or brought back a deleted
row, leaves a difference no later change repairs).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from typing import Any

import neo4j
import psycopg
import pytest
from psycopg import sql

from graphsync import connect, targets
from graphsync.compare.entries import Entry
from graphsync.compare.postgres import PostgresSide
from graphsync.compare.sides import GraphSide
from graphsync.connectors.graphs.reading import Versions
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome, Report
from graphsync.reconcile.walk import Walk
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests import shop
from tests.conftest import eventually
from tests.integration.faults import Watched, Writers, converge
from tests.integration.test_pg_to_neo4j import make_spec, seed, sync

__all__ = ["make_spec"]

Conn = psycopg.Connection[Any]
log = logging.getLogger(__name__)


def repair(spec: PipelineSpec, **job: Any) -> Report:
    return reconcile(spec, ReconcileSpec.model_validate({"action": "repair", **job}), threading.Event())


# Rows of each table: reading them from the target takes several times the pipeline's latency.
ROWS = 2000
CHANGES = (
    "UPDATE customer SET name = %(text)s WHERE id = %(id)s",
    "UPDATE product SET title = %(text)s WHERE id = %(id)s",
    "DELETE FROM likes WHERE customer_id = %(id)s",
)


class Spread(Writers):
    """Connections changing rows spread over the whole table, each only a few times: a change a repair
    undoes is rarely changed again, so it shows in the end."""

    def _write(self, seed: int) -> None:
        rng = random.Random(seed)
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self._schema)))
            while not self._stop.is_set():
                statement = rng.choice(CHANGES)
                conn.execute(statement, {"id": rng.randint(1, ROWS), "text": f"w{rng.randint(0, 10**9)}"})
                self.committed += 1
                time.sleep(0.005)


def test_repairs_racing_a_live_pipeline_never_undo_a_newer_change(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, postgres_service: Service
) -> None:
    seed(pg_conn, schema, customers=ROWS)
    spec = make_spec("logical", mode="snapshotThenStream", transport=None)
    watched = Watched(spec)
    watched.start()
    converge(lambda: shop.actual(neo4j_driver), lambda: shop.expected(pg_conn, schema))
    reports: list[Report] = []
    done = threading.Event()

    def repairing() -> None:
        while not done.is_set():
            # One bucket per entity type: the target read spans long enough for changes to land meanwhile.
            reports.append(repair(spec, bucketCount=1, batchSize=200))

    repairer = threading.Thread(target=repairing, daemon=True)
    with Spread(postgres_service.env["GRAPHSYNC_PG_DSN"], schema) as writers:
        repairer.start()
        time.sleep(15)
        # Repairs end while changes still flow: what the last one undid, no later repair puts right.
        done.set()
        repairer.join(timeout=120)
    seconds = converge(lambda: shop.actual(neo4j_driver), lambda: shop.expected(pg_conn, schema), within=30)
    watched.finish()
    assert watched.errors == []
    assert writers.committed > 1000
    assert len(reports) >= 3, [r.summary() for r in reports]
    # The race happened: repairs found differences the live pipeline was still bringing.
    assert sum(r.total("superseded") + r.total("repaired") for r in reports) > 0
    assert all(r.outcome in (Outcome.IN_SYNC, Outcome.REPAIRED) for r in reports), [
        r.summary() for r in reports if r.outcome not in (Outcome.IN_SYNC, Outcome.REPAIRED)
    ]
    final = reconcile(spec, ReconcileSpec(), threading.Event())
    assert final.outcome is Outcome.IN_SYNC, final.summary()
    log.info(
        "repairs racing a live pipeline: %d runs, %d repaired, %d superseded, %d changes; converged %.1fs after",
        len(reports),
        sum(r.total("repaired") for r in reports),
        sum(r.total("superseded") for r in reports),
        writers.committed,
        seconds,
    )


class ChangedBeforeTargetRead(GraphSide):
    """The target side, whose first bucket read waits until a change the source read missed has reached
    the target through the live pipeline: the interleaving a repair next to a stream meets."""

    def __init__(self, change: Callable[[], None], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._change: Callable[[], None] | None = change

    def bucket(self, entity: str, low: Any, high: Any, ids: Sequence[Any] = ()) -> dict[str, Entry]:
        if self._change is not None:
            change, self._change = self._change, None
            time.sleep(0.5)  # the source's read of this bucket (in the walk's other thread) is done by now
            change()
        return super().bucket(entity, low, high, ids)


@pytest.mark.parametrize("entity", ["customer", "likes"])
def test_a_repair_never_writes_a_read_older_than_what_the_target_holds(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, entity: str
) -> None:
    """An update (customer) or a delete (likes) committed after the walk read the source, applied by the live
    pipeline before it read the target: the repair must neither undo the update nor bring the row back."""
    seed(pg_conn, schema, customers=50)
    spec = make_spec("logical", mode="snapshotThenStream", transport=None)
    watched = Watched(spec)
    watched.start()
    converge(lambda: shop.actual(neo4j_driver), lambda: shop.expected(pg_conn, schema))
    [(customer, product), drifted] = pg_conn.execute("SELECT customer_id, product_id FROM likes LIMIT 2").fetchall()
    # Drift for the repair to find and write, next to the change.
    if entity == "customer":
        neo4j_driver.execute_query("MATCH (c:Customer {id: 2}) SET c.name = 'drift'")
    else:
        neo4j_driver.execute_query(
            "MATCH (:Customer {id: $c})-[r:LIKES]->(:Product {id: $p}) SET r.stars = 99",
            {"c": drifted[0], "p": drifted[1]},
        )

    def read(query: str, **params: Any) -> Any:
        return neo4j_driver.execute_query(query, params).records[0][0]

    def change() -> None:
        if entity == "customer":
            pg_conn.execute("UPDATE customer SET name = 'newest' WHERE id = 5")
            landed = lambda: read("MATCH (c:Customer {id: 5}) RETURN c.name") == "newest"  # noqa: E731
        else:
            pg_conn.execute("DELETE FROM likes WHERE customer_id = %s AND product_id = %s", (customer, product))
            query = "MATCH (:Customer {id: $c})-[r:LIKES]->(:Product {id: $p}) RETURN count(r)"
            landed = lambda: read(query, c=customer, p=product) == 0  # noqa: E731
        eventually(landed, "the change applied by the live pipeline", timeout=30, every=0.1)

    job = ReconcileSpec.model_validate({"action": "repair", "scope": {"entities": [entity]}})
    with ExitStack() as stack:
        late = ChangedBeforeTargetRead(
            change, targets.reader(spec, stack), spec.mapped, target=True, versions=Versions(None, 0)
        )
        source = PostgresSide(stack.enter_context(connect.postgres(spec.postgres, autocommit=True)), spec.mapped)
        walk = Walk(source, late, targets.sink(spec, stack), job)
        stack.callback(walk.close)
        report = walk.entity(entity, threading.Event())
    time.sleep(1)
    watched.finish()
    assert watched.errors == []
    assert shop.actual(neo4j_driver) == shop.expected(pg_conn, schema)
    # The drift repaired; the change counted as settled by the pipeline, not repaired over.
    assert (report.repaired, report.superseded, report.failed) == (1, 1, 0), report.summary()


VISITS = """
CREATE TABLE visit (
    customer_id int NOT NULL REFERENCES customer (id),
    product_id int NOT NULL REFERENCES product (id),
    day int NOT NULL,
    PRIMARY KEY (customer_id, product_id, day)
)
"""


def test_what_a_repair_cannot_fix_makes_the_outcome_partial_counted_and_named(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    """A relationship keyed by more than its two ends, written by hand, has no identity the sink can address;
    the run says so instead of counting it repaired."""
    seed(pg_conn, schema, customers=20)
    pg_conn.execute(VISITS)
    pg_conn.execute("INSERT INTO visit VALUES (1, 1, 1), (1, 1, 2), (2, 3, 1)")
    mappings = shop.mappings(schema)
    mappings["relationships"].append(
        {
            "name": "visit",
            "table": f"{schema}.visit",
            "type": "VISITED",
            "from": {"column": "customer_id", "references": "customer"},
            "to": {"column": "product_id", "references": "product"},
            "key": ["customer_id", "product_id", "day"],
        }
    )
    spec = make_spec(mode="snapshot", transport=None, mappings=mappings)
    sync(spec)
    neo4j_driver.execute_query(
        "MATCH (c:Customer {id: 4}), (p:Product {id: 5}) "
        "CREATE (c)-[:VISITED {customer_id: 4, product_id: 5, day: 9}]->(p)"
    )
    neo4j_driver.execute_query("MATCH (c:Customer {id: 6}) SET c.name = 'edited'")

    repaired = repair(spec, samples=10)
    assert repaired.outcome is Outcome.PARTIAL, repaired.summary()
    visits = next(e for e in repaired.entities if e.entity == "visit")
    assert (visits.extra, visits.repaired, visits.failed) == (1, 0, 1)
    [failure] = visits.samples["failed"]
    assert failure["key"] == [4, 5, 9]
    assert "could not address" in failure["reason"]
    customers = next(e for e in repaired.entities if e.entity == "customer")
    assert (customers.different, customers.repaired, customers.failed) == (1, 1, 0)
    assert repaired.summary()["failed"] == 1
