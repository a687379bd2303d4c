"""Graph to graph: Neo4j mirrored into FalkorDB (and back), by snapshot, watermark increments and differential repair.

Every test compares whole graphs: every node with its labels and properties,
every relationship with its endpoints and properties.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import neo4j
import pytest
import yaml

from graphsync import cli
from graphsync.change import Change, Operation
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.falkordb.sink import FalkorSink
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.connectors.rows import MappingError
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.service import Service
from tests import graphs
from tests.conftest import unique_name

# The size the issue asks to be shown; GRAPHSYNC_TEST_PEOPLE shrinks it for quick local runs.
PEOPLE = int(os.environ.get("GRAPHSYNC_TEST_PEOPLE", "100000"))
# Watermarks of the initial graphs are entity ids; a later edit carries this one.
NOW = 10**9
# The database's clock, as FalkorDB holds a date-time: local, whole seconds.
STAMP = "localdatetime.truncate('second', localdatetime())"


@pytest.fixture
def target(falkordb_service: Service, graph_name: str) -> Iterator[Graph]:
    made = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    yield made
    made.close()


@pytest.fixture
def base(neo4j_service: Service, falkordb_service: Service, graph_name: str) -> dict[str, Any]:
    return base_spec(neo4j_service, falkordb_service, graph_name)


def base_spec(neo4j_service: Service, falkordb_service: Service, graph_name: str) -> dict[str, Any]:
    """Neo4j's graph mirrored into the FalkorDB graph `graph_name`, with watermarks and a key scan for deletes."""
    return {
        "name": unique_name("g").replace("_", "-"),
        "source": {
            "neo4j": {
                "uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"],
                "reading": {"watermarkProperty": "updated_at", "deleteScanIntervalSeconds": 0.01},
            }
        },
        "target": {"falkordb": {"url": falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], "graph": graph_name}},
        "mappings": graphs.MAPPINGS,
        "batchSize": 2000,
    }


def _name_of(target: Graph, key: int) -> Any:
    rows = target.read("MATCH (p:Person {id: $id}) RETURN p.name", {"id": key})
    return rows[0][0] if rows else None


def sync(base: dict[str, Any], mode: str, **control: Any) -> RunStats:
    spec = PipelineSpec.model_validate({**base, "mode": mode})
    return run.run(spec, RunControl(stop=threading.Event(), until_idle=True, **control))


def neo4j_run(driver: neo4j.Driver) -> graphs.Run:
    return driver.execute_query


def neo4j_graph(driver: neo4j.Driver) -> graphs.Snapshot:
    """Read through the engine's reader, which gives temporal values as Python's, like FalkorDB's."""
    return graphs.snapshot(Neo4jReader(driver).read)


def falkor_snapshot(graph: Graph) -> graphs.Snapshot:
    return graphs.snapshot(graph.read)


@pytest.fixture
def source(neo4j_driver: neo4j.Driver) -> neo4j.Driver:
    return indexed(neo4j_driver)


def indexed(neo4j_driver: neo4j.Driver) -> neo4j.Driver:
    """The source database, with the indexes an application graph has on its keys and watermark."""
    for statement in (
        "CREATE INDEX person_id IF NOT EXISTS FOR (n:Person) ON (n.id)",
        "CREATE INDEX company_id IF NOT EXISTS FOR (n:Company) ON (n.id)",
        "CREATE INDEX person_updated IF NOT EXISTS FOR (n:Person) ON (n.updated_at)",
        "CREATE INDEX company_updated IF NOT EXISTS FOR (n:Company) ON (n.updated_at)",
        "CREATE INDEX knows_updated IF NOT EXISTS FOR ()-[r:KNOWS]-() ON (r.updated_at)",
        "CREATE INDEX works_updated IF NOT EXISTS FOR ()-[r:WORKS_AT]-() ON (r.updated_at)",
    ):
        neo4j_driver.execute_query(statement)
    neo4j_driver.execute_query("CALL db.awaitIndexes(300)")
    return neo4j_driver


def test_a_large_neo4j_graph_is_mirrored_into_falkordb_then_kept_equal_incrementally(
    base: dict[str, Any], source: neo4j.Driver, target: Graph
) -> None:
    relationships = graphs.build(neo4j_run(source), people=PEOPLE, companies=PEOPLE // 100, knows_per_person=2)
    assert PEOPLE + PEOPLE // 100 >= 100_000 or "GRAPHSYNC_TEST_PEOPLE" in os.environ
    assert relationships >= 3 * PEOPLE - PEOPLE // 100

    snapshot = sync(base, "snapshot")
    expected = neo4j_graph(source)
    assert snapshot.failed == 0
    assert falkor_snapshot(target) == expected
    assert len(expected["nodes"]) == PEOPLE + PEOPLE // 100
    assert len(expected["rels"]) == relationships

    # A day of changes: edits, deletes of nodes (with their relationships) and relationships, new entities.
    step = max(PEOPLE // 200, 1)
    edit = neo4j_run(source)
    edit(
        "MATCH (p:Person) WHERE p.id % $step = 1 SET p.name = p.name + ' (edited)', p.updated_at = $now",
        {"step": step, "now": NOW},
    )
    edit(
        "MATCH (p:Person) WHERE p.id % $step = 2 SET p.tags = ['moved'], p.updated_at = $now",
        {"step": step, "now": NOW},
    )
    edit("MATCH (p:Person) WHERE p.id % $step = 3 DETACH DELETE p", {"step": step})
    edit("MATCH (:Person)-[k:KNOWS]->(b:Person) WHERE b.id % $step = 4 DELETE k", {"step": step})
    edit(
        "MATCH (p:Person)-[w:WORKS_AT]->() WHERE p.id % $step = 5 SET w.role = 'lead', w.updated_at = $now",
        {"step": step, "now": NOW},
    )
    new = [
        {"id": PEOPLE + i, "name": f"new {i}", "score": 1, "tags": [], "active": True, "weight": 0.5, "updated_at": NOW}
        for i in range(1, 101)
    ]
    edit(graphs.CREATE_PEOPLE, {"rows": new})
    edit(
        graphs.CREATE_KNOWS,
        {"rows": [{"src": PEOPLE + i, "dst": i, "since": 2024, "updated_at": NOW} for i in range(1, 101)]},
    )

    incremental = sync(base, "incremental")
    expected = neo4j_graph(source)
    assert incremental.failed == 0
    assert incremental.deleted > 0
    assert falkor_snapshot(target) == expected

    again = sync(base, "incremental")
    assert again.created + again.updated + again.deleted == 0


def test_a_full_rebuild_never_shows_a_reader_an_empty_or_partial_graph(
    base: dict[str, Any], source: neo4j.Driver, target: Graph
) -> None:
    graphs.build(neo4j_run(source), people=3000, companies=30, knows_per_person=2)
    sync(base, "snapshot")
    before = falkor_snapshot(target)
    edit = neo4j_run(source)
    edit(
        graphs.CREATE_PEOPLE,
        {
            "rows": [
                {
                    "id": 10_000 + i,
                    "name": "late",
                    "score": 0,
                    "tags": [],
                    "active": False,
                    "weight": 0.0,
                    "updated_at": 9,
                }
                for i in range(500)
            ]
        },
    )
    edit("MATCH (p:Person) WHERE p.id <= 200 DETACH DELETE p", {})
    after = neo4j_graph(source)
    counts = {(len(before["nodes"]), len(before["rels"])), (len(after["nodes"]), len(after["rels"]))}

    seen: list[tuple[int, int]] = []
    stop = threading.Event()

    def read_continuously() -> None:
        while not stop.is_set():
            # One query, so both counts come from one state of the graph.
            [[nodes, rels]] = target.read(
                "MATCH (n) WHERE NOT n:GraphsyncTombstone WITH count(n) AS nodes "
                "OPTIONAL MATCH ()-[r]->() RETURN nodes, count(r)"
            )
            seen.append((nodes, rels))

    reader = threading.Thread(target=read_continuously, daemon=True)
    reader.start()
    try:
        rebuild = sync(base, "snapshot")
    finally:
        stop.set()
        reader.join(timeout=30)
    assert rebuild.failed == 0
    assert falkor_snapshot(target) == after
    # A count pair read while nodes and relationships were half copied would match neither state.
    assert len(seen) > 10
    assert set(seen) <= counts, set(seen) - counts


def test_differential_sync_repairs_exactly_the_drift_and_then_finds_nothing(
    base: dict[str, Any], source: neo4j.Driver, target: Graph
) -> None:
    graphs.build(neo4j_run(source), people=5000, companies=50, knows_per_person=2)
    sync(base, "snapshot")
    expected = neo4j_graph(source)
    # Drift made directly in the target: 20 nodes deleted, 30 edited, 10 extra, 15 relationships removed.
    target.write("MATCH (p:Person) WHERE p.id <= 20 DETACH DELETE p")
    target.write("MATCH (p:Person) WHERE p.id > 100 AND p.id <= 130 SET p.name = 'drifted'")
    target.write("UNWIND range(1, 10) AS i CREATE (:Person {id: 100000 + i, name: 'extra', _graphsync_version: 1})")
    target.write("MATCH (:Person {id: 500})-[k:KNOWS]->() DELETE k")
    assert falkor_snapshot(target) != expected

    repair = sync(base, "differential")
    assert falkor_snapshot(target) == expected
    assert repair.deleted == 10
    assert repair.failed == 0
    second = sync(base, "differential")
    assert second.read == 0


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (datetime(2024, 1, 1, 10, 0, tzinfo=UTC), "time zone"),
        (datetime(2024, 1, 1, 10, 0, 0, 500), "fraction of a second"),
        (float("inf"), "no Cypher literal"),
        ([date(2024, 1, 1)], "list of temporal values"),
    ],
)
def test_falkordb_refuses_a_value_it_would_change_naming_the_entity_and_property(
    target: Graph, value: Any, reason: str
) -> None:
    sink = FalkorSink(target, Mappings.model_validate(graphs.MAPPINGS))
    with pytest.raises(MappingError, match=rf'\["person",7\].*{reason}') as error:
        sink.apply([Change("person", 7, Operation.UPSERT, 1, {"id": 7, "seen": value})])
    if reason != "no Cypher literal":
        assert "'seen'" in str(error.value)
    assert not target.client.exists(target.name)  # nothing written


def test_a_falkordb_graph_is_mirrored_into_neo4j_with_its_temporal_values(
    falkordb_service: Service, neo4j_service: Service, neo4j_driver: neo4j.Driver, target: Graph
) -> None:
    """The other direction: FalkorDB is the source (`target` here is the source graph), Neo4j the target."""
    source = target
    for label in ("Person", "Company"):
        source.ensure_index(f"CREATE INDEX FOR (n:{label}) ON (n.id)")
    graphs.build(source.write, people=2000, companies=20, knows_per_person=2)
    source.write(
        "MATCH (p:Person) WHERE p.id <= 50 "
        "SET p.born = date('1990-01-02'), p.seen = localdatetime('2024-05-06T07:08:09')"
    )
    spec = {
        "name": unique_name("r").replace("_", "-"),
        "source": {
            "falkordb": {
                "url": falkordb_service.env["GRAPHSYNC_FALKORDB_URL"],
                "graph": source.name,
                "reading": {"watermarkProperty": "updated_at", "deleteScanIntervalSeconds": 0.01},
            }
        },
        "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
        "mappings": graphs.MAPPINGS,
        "batchSize": 1000,
    }
    snapshot = sync(spec, "snapshot")
    assert snapshot.failed == 0
    assert neo4j_graph(neo4j_driver) == falkor_snapshot(source)
    [[born, seen]] = [
        list(r.values()) for r in neo4j_driver.execute_query("MATCH (p:Person {id: 1}) RETURN p.born, p.seen").records
    ]
    assert (born.to_native(), seen.to_native()) == (date(1990, 1, 2), datetime(2024, 5, 6, 7, 8, 9))

    source.write("MATCH (p:Person) WHERE p.id % 10 = 1 SET p.name = 'renamed', p.updated_at = 1000000000")
    source.write("MATCH (p:Person) WHERE p.id % 10 = 2 DETACH DELETE p")
    incremental = sync(spec, "incremental")
    assert incremental.failed == 0
    assert neo4j_graph(neo4j_driver) == falkor_snapshot(source)


def test_an_entity_falkordb_cannot_hold_is_dead_lettered_listed_and_replayed_while_the_rest_syncs(
    base: dict[str, Any],
    source: neo4j.Driver,
    target: Graph,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    graphs.build(neo4j_run(source), people=50, companies=2, knows_per_person=1)
    source.execute_query("MATCH (p:Person {id: 7}) SET p.seen = datetime('2024-01-01T10:00:00+02:00')")
    stats = sync(base, "snapshot")
    assert stats.failed == 1
    # Person 7 is only the keyed placeholder its relationships need; everything else arrived.
    others = {n for n in neo4j_graph(source)["nodes"] if dict(n[1])["id"] != 7}
    assert falkor_snapshot(target)["nodes"] == others | {(("Person",), (("id", 7),))}

    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({**base, "mode": "snapshot"}))
    assert cli.main(["dlq", "list", "-f", str(path)]) == 0
    listed = capsys.readouterr().out
    assert listed.splitlines()[1].split()[1:5] == ["person", "7", "7", "upsert"]
    assert "property 'seen' is a date-time with a time zone" in listed

    # A record replays as it was read (its date-time still zoned, not turned into text): it fails
    # again, loudly, and stays open. Fixed in the source, the next sync brings the entity.
    assert cli.main(["dlq", "replay", "-f", str(path)]) == 2
    assert "time zone" in capsys.readouterr().err
    source.execute_query("MATCH (p:Person {id: 7}) SET p.seen = localdatetime('2024-01-01T10:00:00')")
    assert sync(base, "snapshot").failed == 0
    assert falkor_snapshot(target) == neo4j_graph(source)


def test_incremental_finds_late_commits_takes_ties_and_refuses_entities_without_a_watermark(
    base: dict[str, Any], source: neo4j.Driver, target: Graph
) -> None:
    """Watermarks from the database's clock, as an application stamps them (local date-times in whole
    seconds: FalkorDB holds no zone and no fraction)."""
    edit = neo4j_run(source)
    edit(
        "UNWIND range(1, 20) AS i CREATE (:Person {id: i, name: 'p' + i, score: 0, tags: [], active: true,"
        f" weight: 0.0, updated_at: {STAMP}}})",
        {},
    )

    assert sync(base, "incremental").failed == 0
    assert _name_of(target, 20) == "p20"
    # A transaction stamps its node first and commits last; another commits in between and is read first.
    with source.session() as session, session.begin_transaction() as late:
        late.run(f"MATCH (p:Person {{id: 5}}) SET p.name = 'late', p.updated_at = {STAMP}").consume()
        edit(f"MATCH (p:Person {{id: 6}}) SET p.name = 'early', p.updated_at = {STAMP}", {})
        sync(base, "incremental")
        assert _name_of(target, 6) == "early"
        late.commit()
    sync(base, "incremental")
    assert _name_of(target, 5) == "late"
    # Two updates within one tick: the second keeps the watermark of the first.
    [[tick]] = Neo4jReader(source).read(f"RETURN {STAMP}")
    edit("MATCH (p:Person {id: 7}) SET p.name = 'first', p.updated_at = $tick", {"tick": tick})
    sync(base, "incremental")
    assert _name_of(target, 7) == "first"
    edit("MATCH (p:Person {id: 7}) SET p.name = 'second', p.updated_at = $tick", {"tick": tick})
    sync(base, "incremental")
    assert _name_of(target, 7) == "second"
    # A node without the watermark is refused with the reason, and the scan goes on past it.
    edit("MATCH (p:Person {id: 8}) SET p.name = 'no stamp' REMOVE p.updated_at", {})
    edit(f"MATCH (p:Person {{id: 9}}) SET p.name = 'after it', p.updated_at = {STAMP}", {})
    refused = sync(base, "incremental")
    assert refused.failed == 1
    assert any("updated_at is not set" in error for error in refused.errors), refused.errors
    assert (_name_of(target, 8), _name_of(target, 9)) == ("p8", "after it")


def test_incremental_refuses_a_watermark_that_is_no_timestamp_once_and_reads_on(
    base: dict[str, Any], source: neo4j.Driver, target: Graph
) -> None:
    """A float watermark orders after every timestamp: read first from scratch, it became the scan's position,
    which no timestamp compares with, and the run retried its reads for ever. Refused once with the reason;
    later timestamps are read."""
    edit = neo4j_run(source)
    edit(
        "UNWIND range(1, 6) AS i CREATE (:Person {id: i, name: 'p' + i, score: 0, tags: [], active: true,"
        f" weight: 0.0, updated_at: CASE WHEN i = 6 THEN 1.5 ELSE {STAMP} END}})",
        {},
    )

    stop = threading.Event()
    watchdog = threading.Timer(60, stop.set)
    watchdog.start()
    try:
        spec = PipelineSpec.model_validate({**base, "mode": "incremental"})
        refused = run.run(spec, RunControl(stop=stop, until_idle=True))
    finally:
        watchdog.cancel()
    assert not stop.is_set(), "the run should end on its own, not when stopped"
    assert refused.failed == 1
    assert any("neither a timestamp nor an integer" in error for error in refused.errors), refused.errors
    assert [_name_of(target, i) for i in range(1, 7)] == ["p1", "p2", "p3", "p4", "p5", None]
    edit(f"MATCH (p:Person {{id: 2}}) SET p.name = 'later', p.updated_at = {STAMP}", {})
    again = sync(base, "incremental")
    assert again.failed == 1  # once per run, like an entity without the watermark
    assert _name_of(target, 2) == "later"
