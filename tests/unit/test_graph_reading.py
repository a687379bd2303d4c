"""Pure parts of graph sync: FalkorDB parameter literals, versions from watermarks, query assembly, spec rules."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from pydantic import ValidationError

from graphsync import codec
from graphsync.change import version_of
from graphsync.connectors.falkordb import params
from graphsync.connectors.graphs import queries, sides
from graphsync.connectors.graphs.reading import Versions, relationship_change
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import PipelineSpec
from tests import graphs


def test_literals_round_trip_the_values_falkordb_holds() -> None:
    text = 'x"y\\z'
    assert params.literal({"a": [1, 2.5, text], "b": None, "c": True}) == '{`a`:[1,2.5,"x\\"y\\\\z"],`b`:null,`c`:true}'
    assert params.header({"rows": [1], "n": "a"}) == 'CYPHER rows=[1] n="a" '


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "no Cypher literal"),
        (datetime(2024, 1, 1), "type datetime"),
        ({"a`b": 1}, "property name 'a`b'"),
        (object(), "type object"),
    ],
)
def test_a_value_without_a_literal_is_refused_never_altered(value: Any, message: str) -> None:
    with pytest.raises(params.UnrepresentableValue, match=message):
        params.literal(value)


def test_versions_come_from_the_watermark_or_the_fallback() -> None:
    versions = Versions("updated_at", 99)
    assert versions.of({"updated_at": 5}) == 5
    assert versions.of({}) == 99
    assert versions.of({"updated_at": "2024-01-01T00:00:00+00:00"}) == version_of(datetime(2024, 1, 1, tzinfo=UTC))
    assert version_of(date(2024, 1, 2)) > version_of(date(2024, 1, 1))
    with pytest.raises(ValueError, match="neither a timestamp nor an integer"):
        versions.of({"updated_at": 1.5})
    with pytest.raises(ValueError, match="not an ISO-8601 timestamp"):
        versions.of({"updated_at": "yesterday"})


def test_relationships_are_keyed_by_their_key_columns_with_endpoints_in_the_data() -> None:
    mappings = Mappings.model_validate(graphs.MAPPINGS)
    change = relationship_change(mappings.relationships[0], 1, 2, {"since": 2020}, 7)
    assert change.key == [1, 2]
    assert change.data == {"since": 2020, "src": 1, "dst": 2}
    assert change.version == 7


def test_queries_take_only_quoted_identifiers_and_constant_conditions() -> None:
    mappings = Mappings.model_validate(graphs.MAPPINGS)
    slots = sides.node_slots(mappings.nodes[1], target=True)
    text = sides.query(queries.NODES, slots, *sides.key_range(True, False), queries.SYNCED)
    assert "MATCH (n:`Company`) WHERE n.`id` > $low AND n._graphsync_version IS NOT NULL" in text
    rel = sides.relationship_slots(mappings, mappings.relationships[1], target=False)
    assert rel["type"] == ":`WORKS_AT`"
    assert rel["target_label"] == ":`Company`"


GRAPH_BASE: dict[str, Any] = {
    "source": {"neo4j": {"uri": "bolt://neo4j:7687"}},
    "target": {"falkordb": {"url": "redis://falkordb:6379", "graph": "social"}},
    "mappings": graphs.MAPPINGS,
    "mode": "snapshot",
}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "continuous"}, "needs a change stream"),
        ({"mode": "incremental"}, "reading.watermarkProperty"),
        ({"target": {"neo4j": {"uri": "bolt://other:7687"}}, "mode": "bidirectional"}, "FalkorDB on one side"),
        ({"transport": {"redisStreams": {"url": "redis://r"}}}, "without a transport"),
        (
            {"mappings": {"nodes": [{"name": "p", "labels": ["P"], "key": "id", "table": "people"}]}},
            "mappings.nodes[p]",
        ),
        ({"target": {"falkordb": {"url": "redis://f", "graph": "a b"}}}, "target.falkordb.graph"),
        ({"source": {"neo4j": {"uri": "bolt://n"}, "falkordb": {"url": "redis://f", "graph": "g"}}}, "exactly one"),
    ],
)
def test_graph_pipelines_reject_what_cannot_work_naming_it(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("]", r"\]")):
        PipelineSpec.model_validate({**GRAPH_BASE, **change})


def test_a_graph_pipeline_parses_with_its_defaults() -> None:
    spec = PipelineSpec.model_validate(GRAPH_BASE)
    assert spec.reading.deletes.value == "keyScan"
    assert spec.falkordb.graph == "social"
    assert spec.mapped.nodes[1].read_label == "Company"


def test_the_codec_keeps_temporal_types_through_json() -> None:
    value = {"at": datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), "on": [date(2024, 1, 2)], "n": 1, "t": time(1, 2)}
    assert codec.loads(codec.dumps(value)) == value
    assert codec.loads('{"$date": 5}') == {"$date": 5}
