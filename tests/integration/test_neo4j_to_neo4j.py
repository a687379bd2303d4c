"""Neo4j to Neo4j, in every mode a graph source has: snapshot, incremental (watermarks and a key scan for
deletes) and differential; the pipeline's checkpoints and dead letters in the target graph, since no FalkorDB
server is at hand; cleanup removes them.

Neo4j Community has one database, so source and target are two label sets of it (`sourceLabel`, `sourceType`).
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

import neo4j

from graphsync import deadletters
from graphsync.cleanup import cleanup
from graphsync.pipelines import run
from graphsync.positions import positions
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_dev.service import Service

PEOPLE = 200


def labels() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    return {"person": f"SrcP_{tag}", "knows": f"SrcK_{tag}", "mirror": f"DstP_{tag}", "mirrored": f"DstK_{tag}"}


def spec_of(neo4j_service: Service, names: dict[str, str], mode: str, **person: Any) -> PipelineSpec:
    uri = neo4j_service.env["GRAPHSYNC_NEO4J_URI"]
    return PipelineSpec.model_validate(
        {
            "name": f"mirror-{names['person'][5:].lower()}",
            "mode": mode,
            "source": {
                "neo4j": {"uri": uri, "reading": {"watermarkProperty": "updated_at", "deleteScanIntervalSeconds": 0.01}}
            },
            "target": {"neo4j": {"uri": uri}},
            "mappings": {
                "nodes": [
                    {
                        "name": "person",
                        "sourceLabel": names["person"],
                        "labels": [names["mirror"]],
                        "key": "id",
                        **person,
                    }
                ],
                "relationships": [
                    {
                        "name": "knows",
                        "sourceType": names["knows"],
                        "type": names["mirrored"],
                        "from": {"column": "src", "references": "person"},
                        "to": {"column": "dst", "references": "person"},
                        "key": ["src", "dst"],
                    }
                ],
            },
            "batchSize": 50,
        }
    )


def sync(spec: PipelineSpec) -> RunStats:
    return run.run(spec, RunControl(stop=threading.Event(), until_idle=True))


def graph(driver: neo4j.Driver, node: str, rel: str) -> tuple[dict[int, Any], dict[tuple[int, int], Any]]:
    # Labels and types are this test's own identifiers, never user input.
    people, _, _ = driver.execute_query(f"MATCH (n:{node}) RETURN n.id AS id, n.name AS name, n.score AS score")
    knows, _, _ = driver.execute_query(f"MATCH (a:{node})-[r:{rel}]->(b:{node}) RETURN a.id, b.id, r.since")
    return {row["id"]: (row["name"], row["score"]) for row in people}, {(a, b): since for a, b, since in knows}


def test_a_neo4j_graph_is_mirrored_into_neo4j_in_every_mode(neo4j_service: Service, neo4j_driver: neo4j.Driver) -> None:
    names = labels()
    person, knows, mirror, mirrored = names["person"], names["knows"], names["mirror"], names["mirrored"]
    neo4j_driver.execute_query(
        f"UNWIND range(1, $n) AS i CREATE (:{person} {{id: i, name: 'p' + i, score: i % 7, updated_at: i}})",
        n=PEOPLE,
    )
    neo4j_driver.execute_query(
        f"MATCH (a:{person}), (b:{person}) WHERE b.id = a.id + 1 "
        f"CREATE (a)-[:{knows} {{since: a.id, updated_at: a.id}}]->(b)"
    )

    def equal() -> bool:
        return graph(neo4j_driver, person, knows) == graph(neo4j_driver, mirror, mirrored)

    snapshot = spec_of(neo4j_service, names, "snapshot")
    stats = sync(snapshot)
    assert (stats.failed, equal()) == (0, True)
    assert len(graph(neo4j_driver, mirror, mirrored)[0]) == PEOPLE

    # Incremental: edits carry a newer watermark; deletes are found by the key scan.
    neo4j_driver.execute_query(f"MATCH (n:{person}) WHERE n.id <= 10 SET n.name = 'edited', n.updated_at = 1000000000")
    neo4j_driver.execute_query(f"MATCH (n:{person}) WHERE n.id > $n - 5 DETACH DELETE n", n=PEOPLE)
    neo4j_driver.execute_query(
        f"UNWIND range(1, 3) AS i CREATE (:{person} {{id: 1000 + i, name: 'new', updated_at: 1000000000}})"
    )
    incremental = spec_of(neo4j_service, names, "incremental")
    assert sync(incremental).failed == 0
    assert equal()
    # Its watermarks are checkpointed in the target graph: no FalkorDB server is at hand.
    stored, _, _ = neo4j_driver.execute_query(
        "MATCH (c:GraphsyncCheckpoint) WHERE c.pipeline = $p RETURN c.id AS id", p=incremental.identity
    )
    assert f"{incremental.identity}:watermark:person" in {row["id"] for row in stored}
    # graphsync checkpoints reads them there.
    assert {(p.store, p.name) for p in positions(incremental)} >= {("graph", "watermark:person")}

    # Differential: drift made in the target is found and repaired.
    neo4j_driver.execute_query(f"MATCH (n:{mirror}) WHERE n.id <= 5 SET n.name = 'drift'")
    neo4j_driver.execute_query(f"CREATE (:{mirror} {{id: 99999, name: 'stray', _graphsync_version: 1}})")
    assert sync(spec_of(neo4j_service, names, "differential")).failed == 0
    assert equal()
    assert reconcile(incremental, ReconcileSpec(), threading.Event()).outcome is Outcome.IN_SYNC

    # A value its cast refuses goes to the dead-letter store, kept in the target graph too.
    neo4j_driver.execute_query(f"MATCH (n:{person} {{id: 20}}) SET n.score = 'high', n.updated_at = 1000000001")
    cast = spec_of(neo4j_service, names, "incremental", properties={"cast": {"score": "integer"}})
    assert sync(cast).failed == 1
    assert deadletters.open_count(cast) == 1

    report = cleanup(cast)
    assert report.errors == []
    left, _, _ = neo4j_driver.execute_query(
        "MATCH (n) WHERE (n:GraphsyncCheckpoint OR n:GraphsyncDeadLetter OR n:GraphsyncDeadLetterSequence)"
        " AND n.pipeline = $p RETURN count(n) AS n",
        p=cast.identity,
    )
    assert left[0]["n"] == 0
