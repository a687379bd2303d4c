"""Files pipelines: a failed file is read again until it syncs (and reconciliation names it meanwhile), and
two writers of one pipeline at once (a sync-now Job next to the worker) never count a reference twice."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from tests import repos
from tests.integration.test_file_sync import Target, falkordb_target, files_of, neo4j_target, spec, sync, target

__all__ = ["falkordb_target", "neo4j_target", "target"]

EDGE_LIST = {"pattern": "*.edges", "function": "tests.parsers:edge_list"}


def test_a_failed_file_is_read_again_until_it_syncs_and_reconciliation_names_it(
    tmp_path: Path, neo4j_target: Target
) -> None:
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(20)
    corpus.put("lists/team.edges", "ann,bob\nbob,cid\n")
    repos.commit(repo, corpus, "start")
    pipeline = spec(neo4j_target, repo, include=["*.json", "*.edges"])
    first = files_of(sync(pipeline))
    assert (first["succeeded"], first["failed"]) == (20, 1)
    [failure] = first["failedFiles"]
    assert failure["path"] == "lists/team.edges"
    assert "no parser is registered" in failure["error"]

    # Reconciliation sees the file's content missing from the graph, and says why.
    report = reconcile(PipelineSpec.model_validate(pipeline), ReconcileSpec(), threading.Event())
    assert report.outcome is Outcome.DRIFT, report.summary()
    documents = report.entities[0]
    assert (documents.entity, documents.different) == ("documents", 1)
    [sample] = documents.samples["different"]
    assert sample["key"] == "lists/team.edges"
    assert sample["reason"].startswith("failed: no parser is registered")

    # The parser registered: the same commit again syncs the file, in incremental mode too.
    fixed = {**pipeline, "source": {"files": {**pipeline["source"]["files"], "parsers": [EDGE_LIST]}}}
    again = files_of(sync(fixed))
    assert (again["succeeded"], again["failed"], again["failedFiles"]) == (1, 0, [])
    rows = neo4j_target.read("MATCH (a:Person)-[:KNOWS]->(b:Person) RETURN a.id, b.id ORDER BY a.id", {})
    assert rows == [["ann", "bob"], ["bob", "cid"]]
    assert files_of(sync(fixed))["processed"] == 0
    clean = reconcile(PipelineSpec.model_validate(fixed), ReconcileSpec(), threading.Event())
    assert clean.outcome is Outcome.IN_SYNC, clean.summary()


def test_two_writers_of_one_files_pipeline_never_count_a_reference_twice(tmp_path: Path, target: Target) -> None:
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(600)
    repos.commit(repo, corpus, "start")
    pipeline: dict[str, Any] = spec(target, repo, mode="snapshot", workers=2)
    results: list[dict[str, Any]] = []
    writers = [threading.Thread(target=lambda: results.append(files_of(sync(pipeline)))) for _ in range(2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=300)
    assert len(results) == 2
    assert repos.actual(target.read) == repos.expected(corpus)
    # One wrote every file; the other waited for it, then found them done.
    assert sorted(r["succeeded"] for r in results) == [0, 600], results

    for i in range(0, 600, 3):
        del corpus.files[f"kb/{i % 20:02d}/doc-{i:05d}.json"]
    repos.commit(repo, corpus, "delete a third")
    assert files_of(sync(pipeline))["removed"] == 200
    # A doubled count would leave the deleted files' nodes behind, with one reference too many.
    assert repos.actual(target.read) == repos.expected(corpus)


def test_a_file_above_the_size_limit_is_reported_not_read(tmp_path: Path, neo4j_target: Target) -> None:
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(10)
    huge = repos.document(10, 10)
    huge["nodes"][0]["properties"]["body"] = "x" * (3 * 1024 * 1024)
    corpus.put("kb/huge.json", huge)
    repos.commit(repo, corpus, "start")
    pipeline = spec(neo4j_target, repo, mode="snapshot", maxFileBytes=1024 * 1024)
    stats = files_of(sync(pipeline))
    assert (stats["succeeded"], stats["failed"]) == (10, 1)
    [failure] = stats["failedFiles"]
    assert failure["path"] == "kb/huge.json"
    assert failure["error"].endswith("bytes, more than files.maxFileBytes (1048576)")
    assert neo4j_target.read("MATCH (n:Entity {id: 'f10-n0'}) RETURN count(n)", {}) == [[0]]
