"""Files pipelines: a failed file is read again until it syncs (and reconciliation names it meanwhile), two
writers of one pipeline at once (a sync-now Job next to the worker) never count a reference twice, and a
repair next to the worker never drops what the worker just wrote."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import neo4j

from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from tests import repos
from tests.integration.test_file_sync import Target, falkordb_target, files_of, neo4j_target, spec, sync, target

__all__ = ["falkordb_target", "neo4j_target", "target"]

EDGE_LIST = {"pattern": "*.edges", "function": "tests.parsers:edge_list"}
REPAIR = ReconcileSpec.model_validate({"action": "repair"})
ROUNDS = 8


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


def test_a_repair_next_to_the_worker_drops_nothing_the_worker_wrote(
    tmp_path: Path, neo4j_target: Target, neo4j_driver: neo4j.Driver
) -> None:
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(300)
    repos.commit(repo, corpus, "start")
    pipeline = spec(neo4j_target, repo)
    sync(pipeline)
    # Lock-step rounds: a repair starts comparing, then a commit lands and the worker syncs it at once.
    started, repaired = threading.Semaphore(0), threading.Semaphore(0)
    repairs: list[Outcome] = []

    def worker() -> None:
        """New commits (files added, changed), each synced as the worker would while a repair runs."""
        for round_ in range(1, ROUNDS + 1):
            assert started.acquire(timeout=300)
            time.sleep(0.3)
            for i in range(round_ * 1000, round_ * 1000 + 15):
                corpus.put(f"kb/new/doc-{i:05d}.json", repos.document(i, 300))
            for i in range(round_ * 10, round_ * 10 + 10):
                corpus.put(f"kb/{i % 20:02d}/doc-{i:05d}.json", repos.document(i, 300, revision=round_))
            repos.commit(repo, corpus, f"round {round_}")
            sync(pipeline)
            assert repaired.acquire(timeout=300)

    def repairer() -> None:
        """Hand-made drift, repaired by a ReconciliationJob, once per round."""
        for _ in range(ROUNDS):
            neo4j_driver.execute_query("MATCH (n:Entity {id: 'f299-n1'}) SET n.title = 'drifted'")
            started.release()
            repairs.append(reconcile(PipelineSpec.model_validate(pipeline), REPAIR, threading.Event()).outcome)
            repaired.release()

    threads = [threading.Thread(target=worker), threading.Thread(target=repairer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    # The worker has nothing left to do, and the graph is what the files say: no repair dropped a node the
    # worker had just written (as extra to the commit the repair compared).
    assert files_of(sync(pipeline))["processed"] == 0
    assert repos.actual(neo4j_target.read) == repos.expected(corpus)
    clean = reconcile(PipelineSpec.model_validate(pipeline), ReconcileSpec(), threading.Event())
    assert clean.outcome is Outcome.IN_SYNC, clean.summary()
    # Each repair compared and repaired one commit, whole: it fixed the drift and nothing was left over.
    assert repairs == [Outcome.REPAIRED] * ROUNDS, repairs
