"""The target of a pipeline, whatever its kind: its sink, and a reader to compare it with the source."""

from __future__ import annotations

from contextlib import ExitStack

from graphsync import connect
from graphsync.connectors.falkordb.sink import FalkorSink
from graphsync.connectors.graphs.reading import GraphReader
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.connectors.neo4j.sink import Neo4jSink
from graphsync.spec.pipeline import PipelineSpec

GraphSink = Neo4jSink | FalkorSink


def sink(spec: PipelineSpec, stack: ExitStack, *, graph: str | None = None) -> GraphSink:
    """The pipeline's sink, closed with `stack`; `graph` writes another FalkorDB graph (a rebuild's)."""
    made: GraphSink
    if spec.target.falkordb is not None:
        target = spec.target.falkordb
        if graph is not None:
            target = target.model_copy(update={"graph": graph})
        made = FalkorSink(connect.falkordb_graph(target, "target.falkordb"), spec.mapped)
    else:
        made = Neo4jSink(connect.neo4j_driver(spec.neo4j), spec.mapped, database=spec.neo4j.database)
    stack.callback(made.close)
    return made


def reader(spec: PipelineSpec, stack: ExitStack) -> GraphReader:
    made: GraphReader
    if spec.target.falkordb is not None:
        made = connect.falkordb_graph(spec.target.falkordb, "target.falkordb")
    else:
        made = Neo4jReader(connect.neo4j_driver(spec.neo4j), database=spec.neo4j.database)
    stack.callback(made.close)
    return made
