"""Backfills on real servers: entities written again from PostgreSQL while the pipeline streams and three
connections keep changing rows; only the scope declared is written, each backfill once.

The drift is made in the target behind the pipeline's back (what a backfill is for: a target restored from an
old backup, edited by hand, a bug fixed): the live stream never brings those entities back, so only a backfill
that wrote every one of them, and never an older read over a newer change, leaves the target equal to the source.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from typing import Any

import neo4j
import psycopg

from graphsync.backfill import Phase, records
from graphsync.cleanup import cleanup
from graphsync.reconcile.audit import Audit
from graphsync.reconcile.pipeline import audit_store, reconcile
from graphsync.reconcile.report import Outcome, Report
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests.conftest import eventually
from tests.integration.faults import Watched
from tests.integration.test_pg_to_neo4j import make_spec, seed, sync
from tests.integration.test_repair_races import Spread

__all__ = ["make_spec"]

Conn = psycopg.Connection[Any]
CUSTOMERS = 1000
# Drift in the backfill's scope (customers): names changed and removed, a customer the source never had.
IN_SCOPE = (
    "MATCH (c:Customer) WHERE c.id % 10 = 0 SET c.name = 'tampered'",
    "MATCH (c:Customer) WHERE c.id % 50 = 1 REMOVE c.name",
    "CREATE (:Customer:Person {id: 900001, name: 'intruder', _graphsync_version: 1})",
)
# Drift out of its scope: a product nobody writes.
OUT_OF_SCOPE = "CREATE (:Product {id: 900002, title: 'out of scope', _graphsync_version: 1})"


def compared(spec: PipelineSpec) -> Report:
    return reconcile(spec, ReconcileSpec(samples=50), threading.Event())


def differences(report: Report) -> dict[str, tuple[int, int, int]]:
    return {e.entity: (e.missing, e.extra, e.different) for e in report.entities if e.differences}


def audited(spec: PipelineSpec) -> int:
    with ExitStack() as stack:
        return len(Audit(audit_store(spec, stack)).runs(spec.identity, limit=1000))


def test_a_backfill_writes_one_entity_type_again_while_the_pipeline_streams(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver, postgres_service: Service
) -> None:
    seed(pg_conn, schema, customers=CUSTOMERS)
    spec = make_spec("logical", mode="snapshotThenStream", transport=None)
    sync(spec)
    for statement in (*IN_SCOPE, OUT_OF_SCOPE):
        neo4j_driver.execute_query(statement)
    drifted = differences(compared(spec))
    assert drifted == {"customer": (0, 1, CUSTOMERS // 10 + CUSTOMERS // 50), "product": (0, 1, 0)}

    # The worker rolled with the backfill in its spec, as a SyncPipeline edit makes it.
    backfilled = make_spec(
        "logical", mode="snapshotThenStream", transport=None, backfills=[{"name": "again", "entities": ["customer"]}]
    )
    seen: list[list[dict[str, Any]]] = []
    live = Watched(backfilled, on_backfills=seen.append)
    with Spread(postgres_service.env["GRAPHSYNC_PG_DSN"], schema) as writers:
        live.start()
        eventually(lambda: seen and seen[-1][0]["phase"] == Phase.COMPLETED, "the backfill completed", timeout=180)
        # Changes go on landing after it, on what it wrote.
        eventually(lambda: writers.committed > 1500, "the writers went on")
    done = seen[-1][0]
    assert done["entities"] == ["customer"]
    assert done["compared"] >= CUSTOMERS
    # The drift, and changes the stream had not applied yet when it read them (the stream's own write of each
    # comes after, at a higher version, with the same values).
    assert done["written"] > 0
    assert done["failed"] == 0
    # Its progress was seen while it ran.
    assert any(items[0]["phase"] == Phase.RUNNING for items in seen)

    def only_out_of_scope_left() -> bool:
        return differences(compared(spec)) == {"product": (0, 1, 0)}

    eventually(only_out_of_scope_left, "the target equal to the source, the out-of-scope drift left", timeout=60)
    live.finish()
    assert live.errors == []

    # Done once: the next run (a restarted worker) reads it completed and writes nothing again.
    runs = audited(spec)
    again: list[list[dict[str, Any]]] = []
    sync(backfilled, on_backfills=again.append)
    assert again[-1][0]["phase"] == Phase.COMPLETED
    assert again[-1][0]["run"] == done["run"]
    assert audited(spec) == runs
    with ExitStack() as stack:
        assert records(audit_store(spec, stack), spec.identity)["again"].phase is Phase.COMPLETED


def test_a_backfill_of_a_key_range_writes_those_keys_only(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=100)
    spec = make_spec("logical", mode="snapshotThenStream", transport=None)
    sync(spec)
    neo4j_driver.execute_query("MATCH (c:Customer) SET c.name = 'tampered'")
    ranged = make_spec(
        "logical",
        mode="snapshotThenStream",
        transport=None,
        backfills=[{"name": "some", "entities": ["customer"], "keys": {"after": 20, "through": 40}}],
    )
    progress: list[list[dict[str, Any]]] = []
    # A run that ends by itself (to idle, a snapshot) ends after its backfills.
    sync(ranged, on_backfills=progress.append)
    assert progress[-1][0]["phase"] == Phase.COMPLETED
    assert progress[-1][0]["written"] == 20
    names: dict[int, str] = dict(neo4j_driver.execute_query("MATCH (c:Customer) RETURN c.id, c.name").records)
    assert sorted(key for key, name in names.items() if name != "tampered") == list(range(21, 41))
    report = compared(spec)
    assert report.outcome is Outcome.DRIFT
    assert differences(report) == {"customer": (0, 0, 80)}
    with ExitStack() as stack:
        assert set(records(audit_store(spec, stack), spec.identity)) == {"some"}
    # Deleting the pipeline with deletionPolicy cleanup takes its backfill records too.
    cleanup(ranged)
    with ExitStack() as stack:
        assert records(audit_store(spec, stack), spec.identity) == {}


def test_a_backfill_of_the_rows_matching_a_filter_writes_those_rows_only(
    make_spec: Any, pg_conn: Conn, schema: str, neo4j_driver: neo4j.Driver
) -> None:
    seed(pg_conn, schema, customers=40)
    pg_conn.execute("UPDATE customer SET tier = 'gold' WHERE id % 4 = 0")
    spec = make_spec("logical", mode="snapshotThenStream", transport=None)
    sync(spec)
    neo4j_driver.execute_query("MATCH (c:Customer) SET c.name = 'tampered'")
    gold = [{"column": "tier", "operator": "In", "values": ["gold"]}]
    filtered = make_spec(
        "logical",
        mode="snapshotThenStream",
        transport=None,
        backfills=[{"name": "gold", "entities": ["customer"], "filter": gold}],
    )
    progress: list[list[dict[str, Any]]] = []
    sync(filtered, on_backfills=progress.append)
    assert (progress[-1][0]["phase"], progress[-1][0]["written"]) == (Phase.COMPLETED, 10)
    names: dict[int, str] = dict(neo4j_driver.execute_query("MATCH (c:Customer) RETURN c.id, c.name").records)
    assert sorted(key for key, name in names.items() if name != "tampered") == list(range(4, 41, 4))
