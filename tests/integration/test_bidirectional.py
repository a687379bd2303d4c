"""Bidirectional pipelines, Neo4j <-> FalkorDB: edits on either side reach the other, nothing loops, and
concurrent edits of one entity resolve as the conflict policy says, the same way every time."""

from __future__ import annotations

import getpass
import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import neo4j
import pytest
import redis
import yaml

from graphsync import cli
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.graph import Graph
from graphsync.pipelines import bidirectional, run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.service import Service
from tests import graphs
from tests.conftest import unique_name
from tests.integration._neo4j import empty
from tests.integration.test_graph_sync import falkor_snapshot, neo4j_graph, neo4j_run


@pytest.fixture
def pair(neo4j_service: Service, falkordb_service: Service, neo4j_driver: neo4j.Driver) -> Iterator[Any]:
    """Builds a fresh pair (a Neo4j source graph, an empty FalkorDB graph) and the spec between them."""
    made: list[Graph] = []

    def build(policy: dict[str, Any] | None = None) -> tuple[PipelineSpec, Graph]:
        empty(neo4j_driver)
        graphs.build(neo4j_run(neo4j_driver), people=200, companies=5, knows_per_person=2)
        target = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], unique_name("bi"))
        made.append(target)
        document: dict[str, Any] = {
            "name": unique_name("bi").replace("_", "-"),
            "source": {
                "neo4j": {
                    "uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"],
                    "reading": {"watermarkProperty": "updated_at"},
                }
            },
            "target": {"falkordb": {"url": falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], "graph": target.name}},
            "mappings": graphs.MAPPINGS,
            "mode": "bidirectional",
        }
        if policy is not None:
            document["conflictPolicy"] = policy
        return PipelineSpec.model_validate(document), target

    yield build
    for graph in made:
        graph.drop()
        graph.close()


def sync(spec: PipelineSpec) -> RunStats:
    return run.run(spec, RunControl(stop=threading.Event(), until_idle=True))


def one_pass(spec: PipelineSpec) -> dict[str, int]:
    """Exactly one pass (until_idle stops after the first pass that writes nothing)."""
    stop = threading.Event()
    stats = run.run(spec, RunControl(stop=stop, until_idle=True, on_batch=lambda _: stop.set()))
    assert stats.two_way is not None
    return stats.two_way.summary()


def person(read: Any, ident: int) -> dict[str, Any] | None:
    rows = read(f"MATCH (p:Person {{id: {ident}}}) RETURN properties(p)")
    if not rows:
        return None
    return {k: v for k, v in rows[0][0].items() if not k.startswith("_graphsync")}


def test_edits_on_either_side_reach_the_other_and_nothing_loops(pair: Any, neo4j_driver: neo4j.Driver) -> None:
    spec, target = pair()
    first = sync(spec)
    assert first.two_way is not None
    assert first.two_way.to_target > 0
    assert falkor_snapshot(target) == neo4j_graph(neo4j_driver)
    assert one_pass(spec)["toTarget"] + one_pass(spec)["toSource"] == 0

    [[links]] = neo4j_driver.execute_query("MATCH (:Person {id: 2})-[r]-() RETURN count(r)").records
    neo4j_driver.execute_query("MATCH (p:Person {id: 1}) SET p.name = 'edited in source', p.updated_at = 5000")
    neo4j_driver.execute_query("MATCH (p:Person {id: 2}) DETACH DELETE p")
    neo4j_driver.execute_query(
        "MATCH (q:Person {id: 3}) CREATE (p:Person {id: 9001, name: 'new in source', updated_at: 5000})-[:KNOWS "
        "{since: 2024, updated_at: 5000}]->(q)"
    )
    target.write("MATCH (p:Person {id: 10}) SET p.name = 'edited in target', p.updated_at = 5000")
    target.write("MATCH (:Person {id: 11})-[w:WORKS_AT]->() DELETE w")
    target.write("MATCH (p:Person {id: 12})-[w:WORKS_AT]->() SET w.role = 'lead'")
    target.write("CREATE (:Person {id: 9002, name: 'new in target', updated_at: 5000})")
    counts = one_pass(spec)
    # Source: 1 edit, 2 deleted with its relationships, 9001 and its KNOWS. Target: 10, 11's and 12's WORKS_AT, 9002.
    assert (counts["toTarget"], counts["toSource"], counts["held"]) == (1 + 1 + links + 2, 4, 0)
    assert falkor_snapshot(target) == neo4j_graph(neo4j_driver)
    source_read = lambda query: [list(r.values()) for r in neo4j_driver.execute_query(query).records]  # noqa: E731
    assert person(source_read, 10) == person(target.read, 10)
    assert person(source_read, 9002) == {"id": 9002, "name": "new in target", "updated_at": 5000}
    assert person(target.read, 2) is None
    # The pass after writes nothing: what it wrote is the base on both sides now.
    again = one_pass(spec)
    assert again["toTarget"] + again["toSource"] + again["resolved"] == 0


# Watermarks are write times in milliseconds: 5 was written last in the source, 7 in the target,
# 6 deleted in the source and updated in the target.
EDITS_SOURCE = (
    "MATCH (p:Person {id: 5}) SET p.name = 'source', p.tags = ['s'], p.score = 10, p.updated_at = 20000",
    "MATCH (p:Person {id: 6}) DETACH DELETE p",
    "MATCH (p:Person {id: 7}) SET p.name = 'source', p.updated_at = 10000",
)
EDITS_TARGET = (
    "MATCH (p:Person {id: 5}) SET p.name = 'target', p.tags = ['t'], p.score = 20, p.updated_at = 10000",
    "MATCH (p:Person {id: 6}) SET p.name = 'target', p.updated_at = 30000",
    "MATCH (p:Person {id: 7}) SET p.name = 'target', p.updated_at = 20000",
)


def conflicting(pair: Any, neo4j_driver: neo4j.Driver, policy: dict[str, Any]) -> tuple[Any, Graph, dict[str, int]]:
    spec, target = pair(policy)
    sync(spec)
    for statement in EDITS_SOURCE:
        neo4j_driver.execute_query(statement)
    for statement in EDITS_TARGET:
        target.write(statement)
    # An unrelated edit goes through whatever the conflicts do.
    target.write("MATCH (p:Person {id: 50}) SET p.name = 'unrelated'")
    counts = one_pass(spec)
    return spec, target, counts


@pytest.mark.parametrize(
    ("policy", "five", "six", "seven"),
    [
        ({"strategy": "lastWriteWins"}, {"name": "source", "tags": ["s"], "score": 10}, "target", "target"),
        ({"strategy": "sourceWins"}, {"name": "source", "tags": ["s"], "score": 10}, None, "source"),
        ({"strategy": "targetWins"}, {"name": "target", "tags": ["t"], "score": 20}, "target", "target"),
        (
            {"strategy": "merge", "merge": {"fields": {"tags": "union", "score": "max"}}},
            {"name": "source", "tags": ["s", "t"], "score": 20},
            "target",
            "target",
        ),
    ],
)
def test_concurrent_edits_resolve_as_the_policy_says_every_time(
    pair: Any,
    neo4j_driver: neo4j.Driver,
    policy: dict[str, Any],
    five: dict[str, Any],
    six: str | None,
    seven: str,
) -> None:
    outcomes = []
    for _ in range(2):
        spec, target, counts = conflicting(pair, neo4j_driver, policy)
        assert counts["resolved"] == 3
        assert falkor_snapshot(target) == neo4j_graph(neo4j_driver)
        got = person(target.read, 5)
        assert got is not None
        assert {k: got[k] for k in five} == five
        six_now = person(target.read, 6)
        assert (six_now or {}).get("name") == six
        assert (person(target.read, 7) or {})["name"] == seven
        assert (person(target.read, 50) or {})["name"] == "unrelated"
        again = one_pass(spec)
        assert again["toTarget"] + again["toSource"] + again["resolved"] == 0
        outcomes.append(falkor_snapshot(target))
    assert outcomes[0] == outcomes[1]


def conflicts_cli(spec: PipelineSpec, tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True, exclude_none=True)))
    code = cli.main(["conflicts", args[0], "-f", str(path), *args[1:]])
    out = capsys.readouterr().out
    return code, json.loads(out) if "--json" in args else out


def test_manual_review_holds_conflicts_and_applies_the_chosen_version(
    pair: Any, neo4j_driver: neo4j.Driver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The entity override wins over the pipeline's strategy.
    policy = {"strategy": "sourceWins", "entities": {"person": {"strategy": "manual"}}}
    spec, target, counts = conflicting(pair, neo4j_driver, policy)
    assert (counts["held"], counts["resolved"]) == (3, 0)
    # Held entities keep each side's version; everything else went on.
    assert (person(target.read, 5) or {})["name"] == "target"
    assert (person(target.read, 50) or {})["name"] == "unrelated"
    assert one_pass(spec)["held"] == 3  # still held, not duplicated
    code, held = conflicts_cli(spec, tmp_path, capsys, "list", "--json")
    assert code == 0
    assert sorted(c["key"] for c in held) == [5, 6, 7]
    by_key = {c["key"]: c for c in held}
    assert by_key[5]["source"]["name"] == "source"
    assert by_key[5]["target"]["name"] == "target"
    assert by_key[5]["base"]["name"] == "person 5"
    assert by_key[6]["source"] is None
    code, text = conflicts_cli(spec, tmp_path, capsys, "show", by_key[5]["id"])
    assert "differs: name, score, tags, updated_at" in text

    code, said = conflicts_cli(
        spec, tmp_path, capsys, "resolve", by_key[5]["id"], "--take", "target", "--by", "alice", "--note", "CRM wins"
    )
    assert code == 0
    assert said.strip().endswith("target, by alice")
    assert conflicts_cli(spec, tmp_path, capsys, "resolve", by_key[6]["id"], "--take", "source")[0] == 0
    merged = tmp_path / "seven.json"
    merged.write_text(json.dumps({"id": 7, "name": "by hand", "updated_at": 40000}))
    assert conflicts_cli(spec, tmp_path, capsys, "resolve", by_key[7]["id"], "--data", str(merged))[0] == 0

    assert falkor_snapshot(target) == neo4j_graph(neo4j_driver)
    assert (person(target.read, 5) or {})["score"] == 20
    assert person(target.read, 6) is None
    assert person(target.read, 7) == {"id": 7, "name": "by hand", "updated_at": 40000}
    again = one_pass(spec)
    assert again["toTarget"] + again["toSource"] + again["held"] == 0
    code, open_now = conflicts_cli(spec, tmp_path, capsys, "list", "--json")
    assert open_now == []
    code, everything = conflicts_cli(spec, tmp_path, capsys, "list", "--all", "--json")
    assert sorted((c["key"], c["choice"]) for c in everything) == [(5, "target"), (6, "source"), (7, "data")]
    # Who resolved each and why stay in the record: the name given, else the user running the command.
    by_key = {c["key"]: c for c in everything}
    assert (by_key[5]["resolvedBy"], by_key[5]["note"]) == ("alice", "CRM wins")
    assert (by_key[6]["resolvedBy"], by_key[6]["note"]) == (getpass.getuser(), None)
    code, text = conflicts_cli(spec, tmp_path, capsys, "show", by_key[5]["id"])
    assert "by alice: target" in text
    assert "note:    CRM wins" in text


def test_a_bad_resolution_is_refused_naming_the_problem(
    pair: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, _ = pair({"strategy": "manual"})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"not a name": 1}))
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True, exclude_none=True)))
    assert cli.main(["conflicts", "resolve", "-f", str(path), "abc", "--data", str(bad)]) == 2
    assert "property 'not a name'" in capsys.readouterr().err
    assert cli.main(["conflicts", "resolve", "-f", str(path), "abc", "--take", "source"]) == 1
    assert "no open conflict 'abc'" in capsys.readouterr().err


def test_a_deleted_relationship_takes_no_node_an_application_wrote_with_it(
    pair: Any, neo4j_driver: neo4j.Driver
) -> None:
    """The orphan cleanup after a relationship delete takes only placeholders the engine made: nodes an
    application wrote carry no version, and lose their last relationship without being deleted (nor, on
    the next pass, deleted on the other side as well)."""
    spec, target = pair()
    neo4j_driver.execute_query(
        "CREATE (:Person {id: 9100, name: 'a', updated_at: 1})-[:KNOWS {since: 2020, updated_at: 1}]->"
        "(:Person {id: 9101, name: 'b', updated_at: 1})"
    )
    target.write(
        "CREATE (:Person {id: 9200, name: 'c', updated_at: 1})-[:KNOWS {since: 2021, updated_at: 1}]->"
        "(:Person {id: 9201, name: 'd', updated_at: 1})"
    )
    sync(spec)
    source_read = lambda query: [list(r.values()) for r in neo4j_driver.execute_query(query).records]  # noqa: E731
    assert person(source_read, 9200) == {"id": 9200, "name": "c", "updated_at": 1}
    # Each relationship deleted on the side that did not write its ends.
    target.write("MATCH (:Person {id: 9100})-[k:KNOWS]->() DELETE k")
    neo4j_driver.execute_query("MATCH (:Person {id: 9200})-[k:KNOWS]->() DELETE k")
    first, second = one_pass(spec), one_pass(spec)
    assert (first["toSource"], first["toTarget"]) == (1, 1)
    assert second["toSource"] + second["toTarget"] == 0
    for read in (source_read, target.read):
        assert [(person(read, ident) or {})["name"] for ident in (9100, 9101, 9200, 9201)] == ["a", "b", "c", "d"]
        assert read("MATCH (:Person {id: 9100})-[k:KNOWS]->() RETURN count(k)") == [[0]]
        assert read("MATCH (:Person {id: 9200})-[k:KNOWS]->() RETURN count(k)") == [[0]]
    assert falkor_snapshot(target) == neo4j_graph(neo4j_driver)


def test_a_lost_ledger_brings_no_deleted_entity_back(
    pair: Any, neo4j_driver: neo4j.Driver, falkordb_service: Service
) -> None:
    """The ledger (on the FalkorDB server) is evicted after a person was deleted in Neo4j: without it the
    person, still in FalkorDB, looks new there. It is held, not copied back, until a person settles it."""
    spec, target = pair()
    sync(spec)
    neo4j_driver.execute_query("MATCH (p:Person {id: 4}) DETACH DELETE p")
    neo4j_driver.execute_query("MATCH (p:Person {id: 5}) SET p.name = 'edited in source', p.updated_at = 5000")
    with redis.Redis.from_url(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"]) as client:
        lost = list(client.scan_iter(f"graphsync:{spec.identity}:ledger:*"))
        assert lost
        client.delete(*lost)
    counts = one_pass(spec)
    source_read = lambda query: [list(r.values()) for r in neo4j_driver.execute_query(query).records]  # noqa: E731
    assert person(source_read, 4) is None
    assert person(target.read, 4) is not None
    with ExitStack() as stack:
        pair_ = bidirectional.TwoWay(spec, stack)
        held = [c for c in pair_.conflicts.list() if c.entity == "person"]
        assert [(c.key, c.source) for c in held] == [(4, None)]
        assert held[0].reason.startswith("the ledger is not the one both sides were synced with")
    # Person 5 differs on both sides with no ledger: a conflict for the policy (last write wins here).
    assert counts["held"] >= 1
    assert (person(target.read, 5) or {})["name"] == "edited in source"
    # The next pass trusts the ledger it rebuilt, and still holds person 4.
    again = one_pass(spec)
    assert person(source_read, 4) is None
    assert again["toSource"] == 0
    with ExitStack() as stack:
        pair_ = bidirectional.TwoWay(spec, stack)
        [held4] = [c for c in pair_.conflicts.list() if c.entity == "person"]
        pair_.settle(held4.id, "source", by="test")  # the source's answer: deleted
    # Gone from the target too (a bare placeholder at most, while its held relationships point at it).
    assert person(target.read, 4) in (None, {"id": 4})
