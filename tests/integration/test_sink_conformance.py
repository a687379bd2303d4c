"""The conformance suite every graph sink passes: idempotent, version-guarded, tombstoned, placeholder-filling.

A new sink joins by adding a factory to `SINKS` that returns the sink and a
function reading back the user-visible graph (the fixtures it needs come from `request`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime, time
from typing import Any

import neo4j
import pytest

from graphsync.change import ApplyResult, Change, Operation
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.sink import FalkorSink
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.connectors.neo4j.sink import Neo4jSink
from graphsync.runner.contracts import Sink
from graphsync.spec.mapping import Mappings
from graphsync_dev.service import Service

MAPPINGS = Mappings.model_validate(
    {
        "nodes": [
            {"name": "person", "labels": ["Person"], "key": "id"},
            {
                "name": "post",
                "labels": ["Post", "Content"],
                "key": "id",
                "foreignKeys": [{"column": "author", "references": "person", "type": "WROTE", "direction": "incoming"}],
            },
        ],
        "relationships": [
            {
                "name": "follows",
                "type": "FOLLOWS",
                "from": {"column": "src", "references": "person"},
                "to": {"column": "dst", "references": "person"},
                "key": ["src", "dst"],
            }
        ],
    }
)

Snapshot = dict[str, Any]
Reader = Callable[[], Snapshot]


def _snapshot(nodes: list[list[Any]], rels: list[list[Any]]) -> Snapshot:
    return {
        "nodes": sorted((sorted(labels), sorted(map(tuple, props))) for labels, props in nodes),
        "rels": sorted((kind, a, b, sorted(map(tuple, props))) for kind, a, b, props in rels),
    }


# The user-visible graph: engine bookkeeping (tombstones, `_graphsync*` properties) left out.
READ_NODES = (
    "MATCH (n) WHERE NOT n:GraphsyncTombstone "
    "RETURN labels(n), [k IN keys(n) WHERE NOT k STARTS WITH '_graphsync' | [k, n[k]]]"
)
READ_RELS = (
    "MATCH (a)-[r]->(b) RETURN type(r), a.id, b.id, [k IN keys(r) WHERE NOT k STARTS WITH '_graphsync' | [k, r[k]]]"
)


def neo4j_factory(request: pytest.FixtureRequest) -> tuple[Sink, Reader]:
    service: Service = request.getfixturevalue("neo4j_service")
    driver: neo4j.Driver = request.getfixturevalue("neo4j_driver")
    sink = Neo4jSink(neo4j.GraphDatabase.driver(service.env["GRAPHSYNC_NEO4J_URI"]), MAPPINGS)

    reader = Neo4jReader(driver)

    def read() -> Snapshot:
        return _snapshot(reader.read(READ_NODES), reader.read(READ_RELS))

    return sink, read


def falkordb_factory(request: pytest.FixtureRequest) -> tuple[Sink, Reader]:
    service: Service = request.getfixturevalue("falkordb_service")
    name: str = request.getfixturevalue("graph_name")
    sink = FalkorSink(falkor_graph.connect(service.env["GRAPHSYNC_FALKORDB_URL"], name), MAPPINGS)
    reader = falkor_graph.connect(service.env["GRAPHSYNC_FALKORDB_URL"], name)
    request.addfinalizer(reader.close)

    def read() -> Snapshot:
        return _snapshot(reader.read(READ_NODES), reader.read(READ_RELS))

    return sink, read


SINKS = {"neo4j": neo4j_factory, "falkordb": falkordb_factory}


@pytest.fixture(params=sorted(SINKS))
def sink(request: pytest.FixtureRequest) -> Iterator[tuple[Sink, Reader]]:
    made, read = SINKS[request.param](request)
    made.prepare()
    yield made, read
    made.close()


def up(entity: str, key: Any, version: int, **data: Any) -> Change:
    return Change(entity=entity, key=key, op=Operation.UPSERT, version=version, data=data)


def down(entity: str, key: Any, version: int) -> Change:
    return Change(entity=entity, key=key, op=Operation.DELETE, version=version)


def test_applying_the_same_batch_twice_changes_nothing(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    batch = [
        up("person", 1, 1, id=1, name="Ada"),
        up("person", 2, 1, id=2, name="Alan"),
        up("follows", [1, 2], 1, src=1, dst=2),
    ]
    first = target.apply(batch)
    state = read()
    second = target.apply(batch)
    assert read() == state
    assert first == ApplyResult(created=3)
    assert second == ApplyResult(stale=3)


def test_an_older_version_never_overwrites_a_newer_one(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    target.apply([up("person", 1, 5, id=1, name="new")])
    result = target.apply([up("person", 1, 4, id=1, name="old")])
    assert result.stale == 1
    assert read()["nodes"] == [(["Person"], [("id", 1), ("name", "new")])]


def test_a_late_update_cannot_resurrect_a_deleted_entity(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    target.apply([up("person", 1, 1, id=1, name="Ada")])
    target.apply([down("person", 1, 3)])
    target.apply([up("person", 1, 2, id=1, name="late")])
    assert read()["nodes"] == []
    target.apply([up("person", 1, 4, id=1, name="reborn")])
    assert read()["nodes"] == [(["Person"], [("id", 1), ("name", "reborn")])]


def test_a_relationship_to_an_unseen_node_creates_a_placeholder_that_fills_in(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    target.apply([up("post", 10, 1, id=10, title="Hello", author=7)])
    assert read()["rels"] == [("WROTE", 7, 10, [])]
    assert (["Person"], [("id", 7)]) in read()["nodes"]
    target.apply([up("person", 7, 1, id=7, name="Grace")])
    assert (["Person"], [("id", 7), ("name", "Grace")]) in read()["nodes"]


def test_moving_a_foreign_key_moves_the_relationship_and_drops_orphan_placeholders(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    target.apply([up("post", 10, 1, id=10, author=7)])
    target.apply([up("post", 10, 2, id=10, author=8)])
    state = read()
    assert state["rels"] == [("WROTE", 8, 10, [])]
    assert [props for labels, props in state["nodes"] if labels == ["Person"]] == [[("id", 8)]]


def test_deleting_a_relationship_row_and_reordered_relationship_versions(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    target.apply([up("person", 1, 1, id=1), up("person", 2, 1, id=2)])
    target.apply([up("follows", [1, 2], 3, src=1, dst=2, since=2024)])
    target.apply([up("follows", [1, 2], 2, src=1, dst=2, since=1999)])
    assert read()["rels"] == [("FOLLOWS", 1, 2, [("since", 2024)])]
    target.apply([down("follows", [1, 2], 4)])
    target.apply([up("follows", [1, 2], 3, src=1, dst=2, since=2024)])
    assert read()["rels"] == []


def test_a_batch_holding_several_versions_of_one_entity_keeps_the_newest(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    target.apply(
        [up("person", 1, 2, id=1, name="b"), up("person", 1, 3, id=1, name="c"), up("person", 1, 1, id=1, name="a")]
    )
    assert read()["nodes"] == [(["Person"], [("id", 1), ("name", "c")])]


def test_multiple_labels_are_all_applied_and_removed(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    target.apply([up("post", 5, 1, id=5, title="t")])
    assert read()["nodes"] == [(["Content", "Post"], [("id", 5), ("title", "t")])]
    target.apply([down("post", 5, 2)])
    assert read()["nodes"] == []


def test_a_stale_delete_of_a_live_entity_blocks_no_later_update(sink: tuple[Sink, Reader]) -> None:
    """A delete older than what the target holds arrives late (a republished event); newer updates still apply."""
    target, read = sink
    target.apply([up("person", 1, 5, id=1, name="v5"), up("person", 2, 5, id=2)])
    target.apply([up("follows", [1, 2], 5, src=1, dst=2, since=5)])
    assert target.apply([down("person", 1, 3), down("follows", [1, 2], 3)]) == ApplyResult(stale=2)
    target.apply([up("person", 1, 7, id=1, name="v7"), up("follows", [1, 2], 7, src=1, dst=2, since=7)])
    state = read()
    assert (["Person"], [("id", 1), ("name", "v7")]) in state["nodes"]
    assert state["rels"] == [("FOLLOWS", 1, 2, [("since", 7)])]


def test_dates_and_local_date_times_are_stored_as_temporal_values(sink: tuple[Sink, Reader]) -> None:
    target, read = sink
    born, seen, at = date(1990, 1, 2), datetime(2024, 5, 6, 7, 8, 9), time(10, 11, 12)
    target.apply(
        [up("person", 1, 1, id=1, born=born, seen=seen, at=at), up("follows", [1, 1], 1, src=1, dst=1, on=born)]
    )
    state = read()
    assert state["nodes"] == [(["Person"], [("at", at), ("born", born), ("id", 1), ("seen", seen)])]
    assert state["rels"] == [("FOLLOWS", 1, 1, [("on", born)])]


def test_concurrent_writers_of_the_same_entities_keep_the_newest_version(sink: tuple[Sink, Reader]) -> None:
    """Consumers may apply changes to one entity at once (a redelivery, a claimed backlog): no lost update."""
    target, read = sink
    writers, rounds, keys = 4, 25, 10
    target.apply([up("person", k, 0, id=k, name="v0") for k in range(keys)])

    def write(writer: int) -> None:
        for r in range(rounds):
            version = r * writers + writer + 1
            target.apply([up("person", k, version, id=k, name=f"v{version}") for k in range(keys)])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    newest = f"v{rounds * writers}"
    assert read()["nodes"] == [(["Person"], [("id", k), ("name", newest)]) for k in range(keys)]


def test_writers_removing_a_placeholders_last_relationships_at_once_leave_no_orphan(
    sink: tuple[Sink, Reader],
) -> None:
    """Two consumers each delete half of the posts of an author never seen (a placeholder) at the same moment.

    Neo4j locks no node for a relationship deleted at a dense node (here 120 posts), so each transaction
    alone sees the other's relationships still there: without a lock on the placeholder both keep it.
    """
    target, read = sink
    rounds, posts = 6, 120
    for r in range(rounds):
        author = 1000 + r
        first = r * posts
        target.apply([up("post", first + i, 1, id=first + i, author=author) for i in range(posts)])
        halves = [range(first, first + posts // 2), range(first + posts // 2, first + posts)]
        meet = threading.Barrier(len(halves))

        threads = [threading.Thread(target=_remove_posts, args=(target, meet, half)) for half in halves]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert read() == {"nodes": [], "rels": []}


def _remove_posts(target: Sink, meet: threading.Barrier, keys: range) -> None:
    meet.wait()
    target.apply([down("post", k, 2) for k in keys])
