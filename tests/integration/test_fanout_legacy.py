"""Fan-out over an engine schema from before per-pipeline capture: the events of no pipeline, from an older outbox
or the application's own publish, reach every pipeline once, and the schema is migrated to record pipelines.
"""

from __future__ import annotations

import neo4j
import pytest
import redis
from psycopg import sql

from graphsync import capture
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.outbox import Outbox, trigger_name
from graphsync_dev import sample
from tests import shop
from tests.integration.fanout_data import (
    SECRET,
    Conn,
    Pipelines,
    assert_no_secret_in_redis,
    falkordb_target,
    outbox_by_pipeline,
    pipelines,
    schema,
    trigger_oids,
)

# Fixtures of the set-up, used by name.
__all__ = ["falkordb_target", "pipelines", "schema"]

pytestmark = pytest.mark.integration


def test_events_of_no_pipeline_from_an_older_outbox_or_the_application_reach_every_pipeline_once(
    pipelines: Pipelines,
    pg_conn: Conn,
    schema: str,
    neo4j_driver: neo4j.Driver,
    falkordb_target: falkor_graph.Graph,
    redis_client: redis.Redis,
) -> None:
    a, b = pipelines.specs["a"], pipelines.specs["b"]
    s = sql.Identifier(schema)
    # The engine's tables as the release before per-pipeline capture left them, with its one trigger per table.
    pg_schema.migrate(pg_conn, schema)
    for statement in LEGACY:
        pg_conn.execute(sql.SQL(statement).format(s=s))
    for table, key in (
        ("customer", "'id'"),
        ("product", "'id'"),
        ("orders", "'id'"),
        ("likes", "'customer_id', 'product_id'"),
    ):
        pg_conn.execute(
            sql.SQL(
                "CREATE TRIGGER graphsync_capture AFTER INSERT OR UPDATE OR DELETE ON {s}.{t}"
                " FOR EACH ROW EXECUTE FUNCTION {s}.capture({args})"
            ).format(s=s, t=sql.Identifier(table), args=sql.SQL(f"'{table}', {key}"))
        )
    sample.seed(pg_conn, schema, customers=10)
    pending = pg_conn.execute(sql.SQL("SELECT count(*) FROM {s}.outbox").format(s=s)).fetchone()
    assert pending is not None
    assert pending[0] > 40

    capture.prepare_source(a)  # migrates, and takes the tables over from the legacy triggers
    assert sorted(trigger_oids(pg_conn, schema)) == [trigger_name(a.identity)]
    capture.prepare_source(b)
    assert sorted(trigger_oids(pg_conn, schema)) == sorted([trigger_name(a.identity), trigger_name(b.identity)])
    # An application publishes once, not knowing the pipelines, and more than the mapping takes.
    row = pg_conn.execute(sql.SQL("SELECT to_jsonb(c) FROM {s}.customer AS c WHERE id = 5").format(s=s)).fetchone()
    assert row is not None
    assert row[0]["secret"] == SECRET
    Outbox(schema).publish(
        pg_conn, entity_type="customer", entity_id=5, operation="upsert", payload=row[0], correlation_id="app-1"
    )
    # The events of no pipeline go to every pipeline subscribed when a relay first takes them: here both.
    pipelines.settle("a")
    pipelines.settle("b")
    pg_schema.migrate(pg_conn, schema)  # idempotent

    expected = shop.expected(pg_conn, schema)
    assert shop.actual(neo4j_driver) == expected
    assert shop.actual_falkordb(falkordb_target) == expected
    counts = outbox_by_pipeline(pg_conn, schema)
    assert None not in counts
    assert counts[a.identity] == counts[b.identity] == pending[0] + 1
    published = sql.SQL("SELECT pipeline FROM {s}.outbox WHERE correlation_id = 'app-1' ORDER BY 1").format(s=s)
    assert [r[0] for r in pg_conn.execute(published)] == sorted([a.identity, b.identity])
    assert_no_secret_in_redis(redis_client, a)
    assert_no_secret_in_redis(redis_client, b)
    primary_key = pg_conn.execute(
        "SELECT array_agg(a.attname ORDER BY a.attname) FROM pg_index i"
        " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
        " WHERE i.indrelid = %s::regclass AND i.indisprimary",
        (f'"{schema}".entity_status',),
    ).fetchone()
    assert primary_key == (["entity_key", "entity_type", "pipeline"],)


# What the engine's outbox and entity status looked like before they recorded pipelines.
LEGACY = (
    "DROP TABLE {s}.outbox_subscriber",
    "ALTER TABLE {s}.outbox DROP COLUMN pipeline",
    "CREATE INDEX outbox_open ON {s}.outbox (status, id) WHERE status IN ('pending', 'published')",
    "ALTER TABLE {s}.entity_status DROP CONSTRAINT entity_status_pkey",
    "ALTER TABLE {s}.entity_status DROP COLUMN pipeline",
    "ALTER TABLE {s}.entity_status ADD PRIMARY KEY (entity_type, entity_key)",
)
