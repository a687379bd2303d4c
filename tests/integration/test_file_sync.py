"""Files to graphs: real git repositories made here, synced into real Neo4j and FalkorDB.

Each test compares the whole target graph (every node with its labels and
properties, every relationship with its properties and reference count) with the
graph worked out from the repository's documents.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import neo4j
import pytest
import yaml

from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.files import workers
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.service import Service
from tests import repos
from tests.conftest import unique_name

BIG = 10_000


class Target:
    """A pipeline target as a spec section, and a way to read it back."""

    def __init__(self, spec: dict[str, Any], read: repos.Read) -> None:
        self.spec = spec
        self.read = read

    def documents(self) -> int:
        return int(self.read("MATCH (d:GraphsyncDocument) RETURN count(d)", {})[0][0])


@pytest.fixture(params=["neo4j", "falkordb"])
def target(request: pytest.FixtureRequest) -> Target:
    name: str = request.param
    made: Target = request.getfixturevalue(f"{name}_target")
    return made


@pytest.fixture
def neo4j_target(neo4j_driver: neo4j.Driver, neo4j_service: Service) -> Target:
    reader = Neo4jReader(neo4j_driver)
    return Target({"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}}, reader.read)


@pytest.fixture
def falkordb_target(falkordb_service: Service, graph_name: str) -> Iterator[Target]:
    url = falkordb_service.env["GRAPHSYNC_FALKORDB_URL"]
    graph = falkor_graph.connect(url, graph_name)
    yield Target({"falkordb": {"url": url, "graph": graph_name}}, graph.read)
    graph.close()


def spec(target: Target, repo: Path, mode: str = "incremental", **files: Any) -> dict[str, Any]:
    return {
        "name": unique_name("files").replace("_", "-"),
        "source": {"files": {"git": {"url": str(repo), "ref": "main"}, "include": ["*.json"], **files}},
        "target": target.spec,
        "mode": mode,
    }


def sync(pipeline: dict[str, Any], on_batch: Callable[[RunStats], None] | None = None) -> RunStats:
    control = RunControl(stop=threading.Event(), until_idle=True, on_batch=on_batch)
    return run.run(PipelineSpec.model_validate(pipeline), control)


def files_of(stats: RunStats) -> dict[str, Any]:
    summary = stats.summary()["files"]
    assert isinstance(summary, dict)
    return summary


def test_a_large_repository_syncs_every_valid_file_reports_every_broken_one_and_resumes_after_a_crash(
    tmp_path: Path, neo4j_target: Target
) -> None:
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(BIG, broken_every=200)
    broken = corpus.broken()
    assert len(broken) == 50
    repos.commit(repo, corpus, "knowledge base")
    pipeline = spec(neo4j_target, repo)

    # A first run is SIGKILLed part way through.
    spec_file = tmp_path / "pipeline.yaml"
    spec_file.write_text(yaml.safe_dump(pipeline))
    with (tmp_path / "killed.log").open("wb") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "graphsync.cli", "run", "-f", str(spec_file), "--until-idle"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    while neo4j_target.documents() < BIG // 4:
        assert worker.poll() is None, (tmp_path / "killed.log").read_text()
        assert time.monotonic() < deadline
        time.sleep(0.2)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    done_before = neo4j_target.documents()
    assert done_before < BIG
    failed_before = int(
        neo4j_target.read("MATCH (d:GraphsyncDocument) WHERE d.error IS NOT NULL RETURN count(d)", {})[0][0]
    )

    seen: list[dict[str, Any]] = []
    stats = sync(pipeline, on_batch=lambda s: seen.append(files_of(s)))
    files = files_of(stats)
    # Finished files were not redone: each is recognised by its stored hash; failed ones are read again.
    assert files["unchanged"] == done_before - failed_before
    assert files["succeeded"] + files["failed"] == BIG - done_before + failed_before
    assert files["total"] == BIG
    assert files["processed"] == BIG
    assert repos.actual(neo4j_target.read) == repos.expected(corpus)
    # Every broken file is reported with its path and reason, whichever run met it.
    reported = {f["path"]: f["error"] for f in files["failedFiles"]}
    assert sorted(reported) == broken
    for path in broken:
        assert repos.BROKEN[corpus.files[path]] in reported[path]
    # Live progress moved batch by batch (at most BATCH_FILES files each).
    assert len(seen) >= (BIG - done_before) // workers.BATCH_FILES
    assert seen[len(seen) // 2]["processed"] < BIG

    # Commit to commit: only the changed files are read, and those that failed.
    corpus.put("kb/00/doc-00000.json", repos.document(0, BIG, revision=1))
    corpus.put("kb/05/doc-00005.json", {"nodes": [{"id": "replacement", "labels": ["Topic"]}]})
    del corpus.files["kb/07/doc-00007.json"]
    corpus.put("kb/new/extra.json", repos.document(BIG + 1, BIG))
    corpus.put(broken[1], repos.document(10_001, BIG))
    repos.commit(repo, corpus, "edit five files")
    again = files_of(sync(pipeline))
    assert again["total"] == 5 + 49
    assert again["processed"] == 5 + 49
    assert (again["succeeded"], again["removed"], again["failed"]) == (4, 1, 49)
    assert repos.actual(neo4j_target.read) == repos.expected(corpus)
    assert len(again["failedFiles"]) == 49


def test_changes_deletes_and_label_changes_converge(tmp_path: Path, target: Target) -> None:
    repo = tmp_path / "kb"
    repos.init(repo)
    corpus = repos.generate(300, broken_every=50)
    repos.commit(repo, corpus, "start")
    pipeline = spec(target, repo, workers=3, maxConcurrentWrites=2)
    first = files_of(sync(pipeline))
    assert (first["succeeded"], first["failed"]) == (294, 6)
    assert repos.actual(target.read) == repos.expected(corpus)

    # Edits, a node that changes labels, deletes (whose nodes others link to), a broken edit of a good file.
    for i in range(0, 300, 7):
        corpus.put(f"kb/{i % 20:02d}/doc-{i:05d}.json", repos.document(i, 300, revision=2))
    changed = repos.document(3, 300)
    changed["nodes"][1]["labels"] = ["Archived"]
    corpus.put("kb/03/doc-00003.json", changed)
    for i in (10, 11, 12):
        del corpus.files[f"kb/{i % 20:02d}/doc-{i:05d}.json"]
    good_before = corpus.files["kb/04/doc-00004.json"]
    corpus.put("kb/04/doc-00004.json", "{ truncated")
    repos.commit(repo, corpus, "edits")
    second = files_of(sync(pipeline))
    assert second["removed"] == 3
    # The broken edit, and the five files broken from the start (one of six was fixed), read again.
    assert second["failed"] == 1 + 5
    # The broken edit keeps what the file contributed before.
    corpus.files["kb/04/doc-00004.json"] = good_before
    assert repos.actual(target.read) == repos.expected(corpus)

    # The same commit again reads only the files that failed; a snapshot re-reads everything and finds it
    # all in place.
    failing = len(second["failedFiles"])
    third = files_of(sync(pipeline))
    assert third["processed"] == third["failed"] == failing
    full = files_of(sync({**pipeline, "mode": "snapshot"}))
    assert (full["unchanged"], full["failed"]) == (297 - failing, failing)
    assert full["nodesWritten"] == 0


def test_content_identity_stores_shared_content_once_with_reference_counts(
    tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Read through a URL: mirrored into the cache on the first run, fetched on the next ones.
    monkeypatch.setenv("GRAPHSYNC_CACHE_DIR", str(tmp_path / "cache"))
    repo = tmp_path / "docs"
    repos.init(repo)
    shared = [
        {"id": "s1", "labels": ["Clause"], "properties": {"text": "Payment is due in 30 days."}},
        {"id": "s2", "labels": ["Clause"], "properties": {"text": "Governed by the law of Ireland."}},
    ]
    corpus = repos.Corpus()
    for i in range(120):
        own = {"id": "mine", "labels": ["Contract"], "properties": {"number": i}}
        edges = [{"from": "mine", "to": "s1", "type": "CONTAINS"}, {"from": "s1", "to": "s2", "type": "NEXT"}]
        corpus.put(f"contracts/c{i:03d}.json", {"nodes": [own, *shared], "edges": edges})
    repos.commit(repo, corpus, "contracts")
    pipeline = spec(target, repo, identity="content")
    pipeline["source"]["files"]["git"]["url"] = f"file://{repo}"
    stats = files_of(sync(pipeline))
    assert len(list((tmp_path / "cache" / "repositories").iterdir())) == 1
    assert stats["succeeded"] == 120

    def counts() -> dict[str, Any]:
        rows = target.read("MATCH (n:Entity) RETURN labels(n), n._graphsync_refs", {})
        clause_refs = sorted(refs for labels, refs in rows if "Clause" in labels)
        contracts = sum(1 for labels, _ in rows if "Contract" in labels)
        (next_refs,) = target.read("MATCH (:Clause)-[r:NEXT]->(:Clause) RETURN collect(r._graphsync_refs)", {})[0]
        return {"clauses": clause_refs, "contracts": contracts, "next": next_refs}

    assert counts() == {"clauses": [120, 120], "contracts": 120, "next": [120]}

    for i in range(0, 120, 3):
        del corpus.files[f"contracts/c{i:03d}.json"]
    repos.commit(repo, corpus, "forty contracts ended")
    assert files_of(sync(pipeline))["removed"] == 40
    assert counts() == {"clauses": [80, 80], "contracts": 80, "next": [80]}

    # The same content under new names creates nothing new.
    before = target.read("MATCH (n) RETURN count(n)", {})[0][0]
    for i in range(3):
        text = corpus.files[f"contracts/c{1 + i * 3:03d}.json"]
        corpus.files[f"copies/copy{i}.json"] = json.dumps(json.loads(text), indent=2)
    repos.commit(repo, corpus, "copies")
    copies = files_of(sync(pipeline))
    assert copies["succeeded"] == 3
    assert target.read("MATCH (n) RETURN count(n)", {})[0][0] == before + 3  # their document nodes only
    assert counts()["clauses"] == [83, 83]

    # Reformatting a file changes its hash but not its Merkle hash: no entity is written.
    corpus.files["contracts/c001.json"] = json.dumps(json.loads(corpus.files["contracts/c001.json"]), indent=4)
    repos.commit(repo, corpus, "reformat")
    reformatted = files_of(sync(pipeline))
    assert (reformatted["unchanged"], reformatted["nodesWritten"], reformatted["edgesWritten"]) == (1, 0, 0)


def test_a_directory_with_a_registered_parser(tmp_path: Path, falkordb_target: Target) -> None:
    folder = tmp_path / "lists"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "team.edges").write_text("ann,bob\nbob,cid\n")
    (folder / "bad.edges").write_text("ann\n")
    # Parses, but no target stores a map property: refused before anything is written.
    (folder / "odd.edges").write_text("dan,eve,meta\n")
    (folder / "notes.txt").write_text("not included")
    pipeline = {
        "name": unique_name("dir").replace("_", "-"),
        "source": {
            "files": {
                "directory": str(folder),
                "include": ["*.edges"],
                "parsers": [{"pattern": "*.edges", "function": "tests.parsers:edge_list"}],
            }
        },
        "target": falkordb_target.spec,
        "mode": "snapshot",
    }
    stats = files_of(sync(pipeline))
    assert (stats["succeeded"], stats["failed"]) == (1, 2)
    failed = {f["path"]: f["error"] for f in stats["failedFiles"]}
    assert failed["bad.edges"] == "line 1: expected 'from,to'"
    assert failed["odd.edges"].startswith("nodes[0].properties.meta: dict values cannot be stored")
    rows = falkordb_target.read("MATCH (a:Person)-[:KNOWS]->(b:Person) RETURN a.id, b.id ORDER BY a.id", {})
    assert rows == [["ann", "bob"], ["bob", "cid"]]
    (folder / "sub" / "team.edges").unlink()
    assert files_of(sync(pipeline))["removed"] == 1
    assert falkordb_target.read("MATCH (n:Entity) RETURN count(n)", {}) == [[0]]
