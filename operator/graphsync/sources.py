"""The source of a pipeline, where another module needs it opened outside the pipeline's runner: a graph
source's reader, and where a files pipeline's remote repositories are mirrored."""

from __future__ import annotations

import os
from contextlib import ExitStack
from pathlib import Path

from graphsync import connect
from graphsync.connectors.graphs.reading import GraphReader
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.spec.pipeline import PipelineSpec


def cache_dir() -> Path:
    """Where remote repositories are mirrored; the operator mounts a volume here."""
    return Path(os.environ.get("GRAPHSYNC_CACHE_DIR") or Path.home() / ".cache" / "graphsync") / "repositories"


def graph_reader(spec: PipelineSpec, stack: ExitStack) -> GraphReader:
    """The graph source's reader, closed with `stack`."""
    reader: GraphReader
    if spec.source.falkordb is not None:
        reader = connect.falkordb_graph(spec.source.falkordb, "source.falkordb")
    else:
        source = spec.source.neo4j
        if source is None:
            raise ValueError("source.neo4j or source.falkordb is required")
        reader = Neo4jReader(connect.neo4j_driver(source, "source.neo4j"), database=source.database)
    stack.callback(reader.close)
    return reader
