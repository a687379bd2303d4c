"""Reconciling a files pipeline (a Git repository into Neo4j or FalkorDB): documents, nodes and edges drifted in
the target are found exactly, repaired with correct reference counts, and a second run finds nothing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import neo4j

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome, Report
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from tests import repos
from tests.integration.test_file_sync import Target, falkordb_target, neo4j_target, spec, sync, target

__all__ = ["falkordb_target", "neo4j_target", "target"]


def run(pipeline: dict[str, Any], **job: Any) -> Report:
    return reconcile(PipelineSpec.model_validate(pipeline), ReconcileSpec.model_validate(job), threading.Event())


def write(target: Target, statement: str) -> None:
    """Drift made directly in the target, as a user with a database console would."""
    if "neo4j" in target.spec:
        with neo4j.GraphDatabase.driver(target.spec["neo4j"]["uri"]) as driver:
            driver.execute_query(statement)
    else:
        graph = falkor_graph.connect(target.spec["falkordb"]["url"], target.spec["falkordb"]["graph"])
        graph.write(statement)
        graph.close()


def counts(report: Report) -> dict[str, tuple[int, int, int]]:
    return {e.entity: (e.missing, e.extra, e.different) for e in report.entities}


def keys(report: Report, entity: str, kind: str) -> list[Any]:
    [found] = [e for e in report.entities if e.entity == entity]
    return sorted(item["key"] for item in found.samples[kind])


def test_drift_in_a_files_target_is_found_exactly_and_repaired(tmp_path: Path, target: Target) -> None:
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(200, broken_every=50)
    repos.commit(repo, corpus, "start")
    pipeline = spec(target, repo, mode="snapshot")
    sync(pipeline)
    broken = corpus.broken()
    # A broken file's content is not in the graph: named as a different document, with why.
    start = run(pipeline, samples=20)
    assert start.outcome is Outcome.DRIFT
    assert counts(start)["documents"] == (0, 0, len(broken))
    assert keys(start, "documents", "different") == broken

    name = pipeline["name"]
    path = "kb/{:02d}/doc-{:05d}.json"
    for statement in (
        "MATCH (n:Entity {id: 'f5-n1'}) DETACH DELETE n",
        "MATCH (n:Entity {id: 'f6-n0'}) SET n.title = 'edited'",
        "MATCH (:Entity {id: 'f7-n0'})-[r:HAS]->(:Entity {id: 'f7-n1'}) SET r.weight = 9.5",
        "CREATE (:Entity:Topic {id: 'intruder', title: 'x', _graphsync_refs: 1})",
        "MATCH (a:Entity {id: 'f8-n0'}), (b:Entity {id: 'f9-n0'}) CREATE (a)-[:LINKS {_graphsync_refs: 1}]->(b)",
        f"MATCH (d:GraphsyncDocument {{id: '{name}:{path.format(9, 9)}'}}) DELETE d",
        f"MATCH (d:GraphsyncDocument {{id: '{name}:{path.format(11, 11)}'}}) SET d.hash = 'tampered'",
        f"CREATE (:GraphsyncDocument {{id: '{name}:kb/zz/ghost.json', path: 'kb/zz/ghost.json', hash: 'x',"
        " nodes: [], edges: []})",
    ):
        write(target, statement)
    found = run(pipeline, samples=20)
    assert found.outcome is Outcome.DRIFT
    assert counts(found) == {"documents": (1, 1, 1 + len(broken)), "nodes": (1, 1, 1), "edges": (1, 1, 1)}
    assert keys(found, "documents", "missing") == [path.format(9, 9)]
    assert keys(found, "documents", "extra") == ["kb/zz/ghost.json"]
    assert keys(found, "documents", "different") == sorted([path.format(11, 11), *broken])
    assert keys(found, "nodes", "missing") == ["f5-n1"]
    assert keys(found, "nodes", "different") == ["f6-n0"]
    assert keys(found, "nodes", "extra") == ["intruder"]
    assert keys(found, "edges", "missing") == [["HAS", "f5-n0", "f5-n1"]]
    assert keys(found, "edges", "different") == [["HAS", "f7-n0", "f7-n1"]]
    assert keys(found, "edges", "extra") == [["LINKS", "f8-n0", "f9-n0"]]

    repaired = run(pipeline, action="repair")
    # The broken files still fail: not repaired, and said so.
    assert repaired.outcome is Outcome.PARTIAL, repaired.summary()
    assert repaired.total("repaired") == 9
    assert repaired.total("failed") == len(broken)
    # Every node and edge as the files say, with the number of documents containing each.
    assert repos.actual(target.read) == repos.expected(corpus)
    assert run(pipeline).total("differences") == len(broken)
