"""Bidirectional PostgreSQL <-> Neo4j under random interleavings (hypothesis, stateful): edits and deletes on
either side, PostgreSQL refusing the engine's writes for a while, passes of the worker and repairs of a
ReconciliationJob. After every pass or repair each side must hold exactly what the policy says, so no entity
is lost, resurrected or sent back where it came from, and the repair's outcome must say what it left undone.

The model: per entity, what each side holds and whether it changed since both last agreed. A pass (or a
repair, which runs the pipeline's own pass) copies a side that alone changed to the other (a copy into
PostgreSQL fails while it refuses, and stays to do); when both changed, the policy's side wins: PostgreSQL's
state (sourceWins) or the graph's (targetWins, a copy into PostgreSQL again).

Size: EXAMPLES examples of up to STEPS steps per policy (GRAPHSYNC_TEST_STATEFUL_EXAMPLES raises it for soak runs).
"""

from __future__ import annotations

import itertools
import os
import threading
from typing import Any

import neo4j
import psycopg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service
from tests.conftest import unique_name
from tests.integration.test_bidirectional_postgres import one_pass, two_way_spec

Conn = psycopg.Connection[Any]
IDS = st.integers(min_value=1, max_value=5)
EXAMPLES = int(os.environ.get("GRAPHSYNC_TEST_STATEFUL_EXAMPLES", "25"))
STEPS = 25

REFUSAL = """
CREATE TABLE refusing (since timestamptz);
CREATE FUNCTION refuse() RETURNS trigger AS $$
BEGIN
    IF current_setting('graphsync_test.app', true) IS DISTINCT FROM 'yes'
       AND EXISTS (SELECT 1 FROM {schema}.refusing) THEN
        RAISE EXCEPTION 'refused for the test';
    END IF;
    RETURN COALESCE(NEW, OLD);
END $$ LANGUAGE plpgsql;
"""


@pytest.mark.parametrize("strategy", ["sourceWins", "targetWins"])
def test_random_interleavings_converge_as_the_policy_says(
    strategy: str,
    pg_conn: Conn,
    postgres_service: Service,
    neo4j_service: Service,
    neo4j_driver: neo4j.Driver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    schema = str(pg_conn.execute("SELECT current_schema()").fetchone()[0])  # type: ignore[index]
    pg_conn.execute(REFUSAL.replace("{schema}", schema))
    # The application's own writes pass; only the engine's are refused.
    pg_conn.execute("SET graphsync_test.app = 'yes'")
    monkeypatch.setenv("TEST_PG_PASSWORD", postgres_service.env["GRAPHSYNC_PG_PASSWORD"])
    names = (f"n{i}" for i in itertools.count())

    class Interleavings(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            table = unique_name("item")
            pg_conn.execute(f"CREATE TABLE {table} (id int PRIMARY KEY, name text NOT NULL)")
            pg_conn.execute(
                f"CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
            pg_conn.execute("DELETE FROM refusing")
            self.table = table
            self.label = f"Item{table.split('_')[-1]}"
            mapping = {"nodes": [{"name": "item", "table": f"{schema}.{table}", "labels": [self.label], "key": "id"}]}
            self.spec = two_way_spec(postgres_service, neo4j_service, schema, mapping, {"strategy": strategy})
            self.pg: dict[int, str | None] = {}
            self.graph: dict[int, str | None] = {}
            self.base: dict[int, str | None] = {}
            self.owed: dict[int, str | None] = {}
            self.refusing = False

        @rule(ident=IDS)
        def edit_postgres(self, ident: int) -> None:
            name = next(names)
            pg_conn.execute(
                f"INSERT INTO {self.table} VALUES (%s, %s) ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name",
                (ident, name),
            )
            self.pg[ident] = name

        @rule(ident=IDS)
        def delete_in_postgres(self, ident: int) -> None:
            if self.pg.get(ident) is not None:
                pg_conn.execute(f"DELETE FROM {self.table} WHERE id = %s", (ident,))
                self.pg[ident] = None

        @rule(ident=IDS)
        def edit_graph(self, ident: int) -> None:
            name = next(names)
            neo4j_driver.execute_query(f"MERGE (i:{self.label} {{id: $id}}) SET i.name = $name", id=ident, name=name)
            self.graph[ident] = name

        @rule(ident=IDS)
        def delete_in_graph(self, ident: int) -> None:
            if self.graph.get(ident) is not None:
                neo4j_driver.execute_query(f"MATCH (i:{self.label} {{id: $id}}) DETACH DELETE i", id=ident)
                self.graph[ident] = None

        @precondition(lambda self: not self.refusing)
        @rule()
        def postgres_refuses(self) -> None:
            pg_conn.execute("INSERT INTO refusing VALUES (now())")
            self.refusing = True

        @precondition(lambda self: self.refusing)
        @rule()
        def postgres_takes_writes_again(self) -> None:
            pg_conn.execute("DELETE FROM refusing")
            self.refusing = False

        @rule()
        def a_pass(self) -> None:
            one_pass(self.spec)
            self.settle()

        @rule()
        def a_repair(self) -> None:
            report = reconcile(self.spec, ReconcileSpec.model_validate({"action": "repair"}), threading.Event())
            owed = self.settle()
            if owed:
                assert report.outcome is Outcome.PARTIAL, report.summary()
                assert report.total("failed") == len(owed)
            else:
                assert report.outcome in (Outcome.REPAIRED, Outcome.IN_SYNC), report.summary()

        def settle(self) -> set[int]:
            """What the pass did, per the model; checks both sides and returns the copies still owed."""
            for ident in set(self.pg) | set(self.graph):
                pg, graph, base = self.pg.get(ident), self.graph.get(ident), self.base.get(ident)
                # While PostgreSQL owes the graph's change, an edit of its own did not see it: both changed.
                owes = ident in self.owed
                changed_pg = pg != (self.owed[ident] if owes else base)
                changed_graph = graph != base or owes
                if not (changed_pg or changed_graph):
                    continue
                if changed_pg and (not changed_graph or strategy == "sourceWins"):
                    self.graph[ident] = self.base[ident] = pg
                    self.owed.pop(ident, None)
                elif self.refusing:
                    self.base[ident] = graph  # the graph took it (or held it): PostgreSQL owes the copy
                    if pg != graph:
                        self.owed[ident] = pg
                else:
                    self.pg[ident] = self.base[ident] = graph
                    self.owed.pop(ident, None)
            assert self.actual_pg() == {k: v for k, v in self.pg.items() if v is not None}
            assert self.actual_graph() == {k: v for k, v in self.graph.items() if v is not None}
            return {
                ident for ident in self.pg.keys() | self.graph.keys() if self.pg.get(ident) != self.graph.get(ident)
            }

        def actual_pg(self) -> dict[int, str]:
            return dict(pg_conn.execute(f"SELECT id, name FROM {self.table}").fetchall())

        def actual_graph(self) -> dict[int, str]:
            records = neo4j_driver.execute_query(f"MATCH (i:{self.label}) WHERE i.name IS NOT NULL RETURN i.id, i.name")
            return {record[0]: record[1] for record in records.records}

    run_state_machine_as_test(
        Interleavings,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
