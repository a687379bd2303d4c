"""Two pipelines on one table: every change reaches both, and neither disturbs the other.

The same pipeline name in two namespaces (two identities), one into Neo4j and one
into FalkorDB, capture the same tables through one engine schema while writers
commit from several connections. Each target must end equal to PostgreSQL, entity
by entity; restarting, dead-letter replay and cleanup of one leave the other whole;
and the excluded `secret` column never leaves PostgreSQL.
"""

from __future__ import annotations

import json

import neo4j
import pytest
import redis
from psycopg import sql

from graphsync import capture
from graphsync.cleanup import cleanup
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.postgres.deadletter import PostgresDeadLetters
from graphsync.connectors.postgres.outbox import trigger_name
from graphsync_dev import sample
from graphsync_dev.service import Service
from tests import shop
from tests.integration.fanout_data import (
    SECRET,
    Conn,
    Pipelines,
    assert_no_secret_in_postgres,
    assert_no_secret_in_redis,
    falkordb_target,
    outbox_by_pipeline,
    pipelines,
    schema,
    trigger_oids,
    write_concurrently,
)

# Fixtures of the set-up, used by name.
__all__ = ["falkordb_target", "pipelines", "schema"]

pytestmark = pytest.mark.integration


def test_two_pipelines_on_one_table_each_get_every_change_and_leave_each_other_alone(
    pipelines: Pipelines,
    pg_conn: Conn,
    schema: str,
    postgres_service: Service,
    neo4j_driver: neo4j.Driver,
    falkordb_target: falkor_graph.Graph,
    redis_client: redis.Redis,
) -> None:
    a, b = pipelines.specs["a"], pipelines.specs["b"]
    assert a.name == b.name
    assert a.identity != b.identity
    capture.prepare_source(a)
    capture.prepare_source(b)
    triggers = trigger_oids(pg_conn, schema)
    assert sorted(triggers) == sorted([trigger_name(a.identity), trigger_name(b.identity)])
    assert all(len(oids) == 4 for oids in triggers.values())
    sample.seed(pg_conn, schema, customers=30)

    pipelines.start("a")
    pipelines.start("b")
    write_concurrently(postgres_service, schema, 1000, seed=1)
    # Restarting `a` installs a's triggers again (in a transaction, so no change is missed), never b's.
    running = trigger_oids(pg_conn, schema)
    pipelines.stop("a")
    pipelines.start("a")
    write_concurrently(postgres_service, schema, 1000, seed=2)
    after_restart = trigger_oids(pg_conn, schema)
    assert after_restart[trigger_name(b.identity)] == running[trigger_name(b.identity)]
    assert {owner for _, owner in after_restart[trigger_name(a.identity)]} == {a.identity}
    assert {owner for _, owner in after_restart[trigger_name(b.identity)]} == {b.identity}
    pipelines.stop_all()
    # A change to the excluded column alone is no event for anyone.
    before = outbox_by_pipeline(pg_conn, schema)
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET secret = 'other'").format(sql.Identifier(schema)))
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET secret = %s").format(sql.Identifier(schema)), (SECRET,))
    assert outbox_by_pipeline(pg_conn, schema) == before
    pipelines.settle("a")
    pipelines.settle("b")

    expected = shop.expected(pg_conn, schema)
    # The random workload inserts and deletes customers alike: their number may end where it began; that the
    # writes happened is in the outbox counts below.
    assert expected["nodes"][shop.CUSTOMER]
    assert shop.actual(neo4j_driver) == expected
    assert shop.actual_falkordb(falkordb_target) == expected
    counts = outbox_by_pipeline(pg_conn, schema)
    assert set(counts) == {a.identity, b.identity}
    # Each trigger wrote one event per change, for its own pipeline.
    assert counts[a.identity] == counts[b.identity] > 2000
    assert_no_secret_in_postgres(pg_conn, schema)
    assert assert_no_secret_in_redis(redis_client, a) > 0
    assert assert_no_secret_in_redis(redis_client, b) > 0


def test_dead_letters_replay_into_their_own_pipeline_and_cleanup_of_one_leaves_the_other_syncing(
    pipelines: Pipelines,
    pg_conn: Conn,
    schema: str,
    neo4j_driver: neo4j.Driver,
    falkordb_target: falkor_graph.Graph,
    redis_client: redis.Redis,
) -> None:
    a, b = pipelines.specs["a"], pipelines.specs["b"]
    s = sql.Identifier(schema)
    capture.prepare_source(a)
    capture.prepare_source(b)
    sample.seed(pg_conn, schema, customers=10)
    # A map is no graph property: a poison record for both pipelines, whose secret must not follow it.
    pg_conn.execute(sql.SQL("ALTER TABLE {}.customer ADD COLUMN prefs jsonb").format(s))
    pg_conn.execute(
        sql.SQL("INSERT INTO {}.customer VALUES (99, 'poison', NULL, NULL, %s, %s)").format(s),
        (SECRET, json.dumps({"theme": "dark"})),
    )
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET name = name || '!' WHERE id <= 10").format(s))
    pipelines.settle("a")
    pipelines.settle("b")
    letters = {
        which: PostgresDeadLetters(pg_conn, pipeline=spec.identity, schema=schema)
        for which, spec in pipelines.specs.items()
    }
    for store in letters.values():
        [letter] = store.list()
        assert letter.entity_key == 99
        assert "is a map" in letter.reason
        assert "secret" not in letter.payload
    assert_no_secret_in_postgres(pg_conn, schema)

    # Replaying a's letter puts an event into a's outbox alone; b's letter stays open, b gets nothing.
    before = outbox_by_pipeline(pg_conn, schema)
    assert letters["a"].replay() == 1
    after = outbox_by_pipeline(pg_conn, schema)
    assert after == {**before, a.identity: before[a.identity] + 1}
    pipelines.settle("a")
    pipelines.settle("b")
    assert letters["a"].count() == 1  # still poison: dead-lettered again, by a alone
    assert len(letters["a"].list(include_replayed=True)) == 2
    assert [letter.id for letter in letters["b"].list(include_replayed=True)] == [letters["b"].list()[0].id]

    # Cleanup of `a` while `b` runs: a's triggers, rows and streams go; b's stay and b goes on syncing.
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET prefs = NULL").format(s))
    pipelines.start("b")
    report = cleanup(a)
    assert report.errors == []
    assert sorted(report.triggers) == sorted(f"{schema}.{t}" for t in ("customer", "product", "orders", "likes"))
    assert report.schema is None
    assert any(b.identity in kept for kept in report.kept)
    assert sorted(trigger_oids(pg_conn, schema)) == [trigger_name(b.identity)]
    assert a.identity not in outbox_by_pipeline(pg_conn, schema)
    assert letters["a"].list(include_replayed=True) == []
    assert len(letters["b"].list(include_replayed=True)) == 1
    assert list(redis_client.scan_iter(match=f"graphsync:{a.identity}:*")) == []
    pg_conn.execute(sql.SQL("UPDATE {}.customer SET tier = 'after cleanup' WHERE id <= 5").format(s))
    pg_conn.execute(sql.SQL("DELETE FROM {}.customer WHERE id = 10").format(s))
    pg_conn.execute(sql.SQL("INSERT INTO {}.customer VALUES (11, 'new', NULL, NULL, %s, NULL)").format(s), (SECRET,))
    pipelines.stop("b")
    pipelines.settle("b")
    expected = shop.expected(pg_conn, schema)
    for nodes in expected["nodes"].values():
        for node in nodes.values():
            node.pop("prefs", None)
    assert shop.actual_falkordb(falkordb_target) == expected
    assert_no_secret_in_postgres(pg_conn, schema)
    assert assert_no_secret_in_redis(redis_client, b) > 0
