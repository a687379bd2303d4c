"""Redis Streams consumer groups and FalkorDB graph queries on the real servers."""

from __future__ import annotations

import redis

from tests.conftest import unique_name


def test_consumer_group_delivers_acks_and_reclaims(redis_client: redis.Redis, stream_name: str) -> None:
    group = unique_name("group")
    redis_client.xgroup_create(stream_name, group, id="0", mkstream=True)
    ids = [redis_client.xadd(stream_name, {"entity": f"person:{i}"}) for i in range(3)]

    delivered = redis_client.xreadgroup(group, "alice", {stream_name: ">"}, count=10)
    assert isinstance(delivered, list)  # RESP2, the client's default protocol: [[stream, entries], ...]
    assert [entry_id for entry_id, _ in delivered[0][1]] == ids
    redis_client.xack(stream_name, group, ids[0])

    # alice "dies" holding two entries: bob claims them and finishes the work.
    _, claimed, _ = redis_client.xautoclaim(stream_name, group, "bob", min_idle_time=0, start_id="0")
    assert [entry_id for entry_id, _ in claimed] == ids[1:]
    redis_client.xack(stream_name, group, *ids[1:])
    assert redis_client.xpending(stream_name, group)["pending"] == 0


def test_falkordb_answers_graph_queries(falkordb_client: redis.Redis, graph_name: str) -> None:
    # redis-py leaves execute_command unannotated.
    falkordb_client.execute_command(  # type: ignore[no-untyped-call]
        "GRAPH.QUERY", graph_name, "CREATE (:Person {name: 'Ada'})-[:KNOWS]->(:Person {name: 'Alan'})"
    )
    result = falkordb_client.execute_command(  # type: ignore[no-untyped-call]
        "GRAPH.QUERY", graph_name, "MATCH (a:Person)-[:KNOWS]->(b:Person) RETURN a.name, b.name"
    )
    header, rows = result[0], result[1]
    assert header == ["a.name", "b.name"]
    assert rows == [["Ada", "Alan"]]


def test_transport_and_graph_target_are_separate_servers(
    redis_client: redis.Redis, falkordb_client: redis.Redis, graph_name: str
) -> None:
    # redis-py leaves execute_command unannotated.
    falkordb_client.execute_command("GRAPH.QUERY", graph_name, "CREATE (:Marker)")  # type: ignore[no-untyped-call]
    assert redis_client.exists(graph_name) == 0
