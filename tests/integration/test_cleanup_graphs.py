"""`graphsync cleanup` of graph and files pipelines on the real servers: their state goes, what they synced stays.

Each test runs a real pipeline first, so what the cleanup finds is what the engine
made: state keys, a rebuild's leftover graph, tombstones, version marks,
reconciliation records, a files pipeline's checkpoint and its repository mirror.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import pytest
import redis
import yaml

from graphsync.cleanup import cleanup
from graphsync.connectors.falkordb import graph as falkor_graph
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.pipelines import run
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.service import Service
from tests import graphs, repos
from tests.conftest import unique_name
from tests.integration.cleanup_data import audit, other_pipeline, pipeline_keys, sync
from tests.integration.test_worker import free_port

pytestmark = pytest.mark.integration

OPERATOR = str(Path(sys.executable).parent / "graphsync-operator")


# --- Neo4j -> FalkorDB ----------------------------------------------------------------------------------------


@pytest.fixture
def target(falkordb_service: Service, graph_name: str) -> Iterator[Graph]:
    made = falkor_graph.connect(falkordb_service.env["GRAPHSYNC_FALKORDB_URL"], graph_name)
    yield made
    made.close()


@pytest.fixture
def graph_document(neo4j_service: Service, falkordb_service: Service, graph_name: str) -> dict[str, Any]:
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
        "mode": "snapshot",
        "batchSize": 500,
    }


@pytest.fixture
def graph_others(falkordb_client: redis.Redis, graph_document: dict[str, Any]) -> Iterator[list[str]]:
    yield from other_pipeline(falkordb_client, graph_document["name"])


@pytest.fixture
def leftovers(falkordb_client: redis.Redis, graph_name: str) -> Iterator[None]:
    yield
    for suffix in ("__graphsync_audit", "__graphsync_build"):
        if falkordb_client.exists(graph_name + suffix):
            # redis-py leaves execute_command unannotated.
            falkordb_client.execute_command("GRAPH.DELETE", graph_name + suffix)  # type: ignore[no-untyped-call]


def falkor_bookkeeping(graph: Graph) -> dict[str, Any]:
    [[tombstones]] = graph.read("MATCH (t:GraphsyncTombstone) RETURN count(t)")
    [[nodes]] = graph.read("MATCH (n) WHERE n._graphsync_version IS NOT NULL RETURN collect(n._graphsync_version)")
    [[rels]] = graph.read(
        "MATCH ()-[r]->() WHERE r._graphsync_version IS NOT NULL RETURN collect(r._graphsync_version)"
    )
    return {"tombstones": tombstones, "node versions": sorted(set(nodes)), "relationship versions": sorted(set(rels))}


def test_a_graph_pipelines_state_keys_go_through_the_worker_and_the_synced_graph_stays(
    graph_document: dict[str, Any],
    neo4j_driver: neo4j.Driver,
    target: Graph,
    falkordb_client: redis.Redis,
    graph_others: list[str],
    leftovers: None,
    tmp_path: Path,
) -> None:
    graphs.build(neo4j_driver.execute_query, people=300, companies=5, knows_per_person=2)
    spec = PipelineSpec.model_validate(graph_document)
    sync(spec)
    neo4j_driver.execute_query("MATCH (p:Person) WHERE p.id % 10 = 3 DETACH DELETE p")
    neo4j_driver.execute_query("MATCH (p:Person) WHERE p.id % 10 = 4 SET p.name = 'edited', p.updated_at = 10000")
    incremental = PipelineSpec.model_validate({**graph_document, "mode": "incremental"})
    sync(incremental)
    audit(spec)
    # A rebuild that never finished leaves the graph it was building.
    build = falkor_graph.connect(graph_document["target"]["falkordb"]["url"], f"{target.name}__graphsync_build")
    build.write("CREATE (:Person {id: 1})")
    build.close()
    synced = graphs.snapshot(target.read)
    assert synced == graphs.snapshot(Neo4jReader(neo4j_driver).read)
    name = spec.name
    assert pipeline_keys(falkordb_client, name) == [f"graphsync:{name}:checkpoint"]
    assert falkor_bookkeeping(target)["tombstones"] > 0

    spec_file = tmp_path / "pipeline.yaml"
    spec_file.write_text(yaml.safe_dump(graph_document))
    env = {**os.environ, "GRAPHSYNC_HTTP_PORT": str(free_port())}
    env.pop("GRAPHSYNC_LEASE", None)
    done = subprocess.run(
        [OPERATOR, "worker", "cleanup", "-f", str(spec_file)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"graphsync:{name}:checkpoint" in done.stdout
    assert f"{target.name}__graphsync_build" in done.stdout
    assert "-> finished" in done.stderr
    assert pipeline_keys(falkordb_client, name) == []
    assert pipeline_keys(falkordb_client, f"{name}2") == graph_others
    assert not falkordb_client.exists(f"{target.name}__graphsync_build")
    assert not falkordb_client.exists(f"{target.name}__graphsync_audit")
    assert graphs.snapshot(target.read) == synced
    assert falkor_bookkeeping(target) == {"tombstones": 0, "node versions": [-1], "relationship versions": [-1]}
    assert not cleanup(spec).removed

    # Created again, a snapshot brings everything, and so do increments after it.
    sync(spec)
    neo4j_driver.execute_query("MATCH (p:Person) WHERE p.id % 10 = 5 SET p.name = 'again', p.updated_at = 20000")
    sync(incremental)
    assert graphs.snapshot(target.read) == graphs.snapshot(Neo4jReader(neo4j_driver).read)


# --- Files -> Neo4j -------------------------------------------------------------------------------------------


def test_a_files_pipeline_loses_its_checkpoint_and_mirror_and_keeps_its_documents(
    tmp_path: Path, neo4j_service: Service, neo4j_driver: neo4j.Driver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHSYNC_CACHE_DIR", str(tmp_path / "cache"))
    repo = tmp_path / "docs"
    repos.init(repo)
    corpus = repos.generate(6)
    repos.commit(repo, corpus, "documents")
    spec = PipelineSpec.model_validate(
        {
            "name": unique_name("f").replace("_", "-"),
            "source": {"files": {"git": {"url": f"file://{repo}", "ref": "main"}}},
            "target": {"neo4j": {"uri": neo4j_service.env["GRAPHSYNC_NEO4J_URI"]}},
            "mode": "incremental",
        }
    )
    run.run(spec, RunControl(stop=threading.Event(), until_idle=True))
    read = Neo4jReader(neo4j_driver).read

    def graph() -> Any:
        return repos.actual(read)

    synced = graph()
    [[documents]] = read("MATCH (d:GraphsyncDocument) RETURN count(d)")
    assert documents == 6
    mirrors = list((tmp_path / "cache" / "repositories").iterdir())
    assert len(mirrors) == 1

    report = cleanup(spec)

    assert report.checkpoints == 1
    assert report.cache == [str(mirrors[0])]
    assert not mirrors[0].exists()
    assert read("MATCH (c:GraphsyncCheckpoint) RETURN count(c)") == [[0]]
    assert read("MATCH (d:GraphsyncDocument) RETURN count(d)") == [[documents]]
    assert graph() == synced
    assert not cleanup(spec).removed
