"""The target of a pipeline, whatever its kind: its sink, a reader to compare it with the source, and a files
pipeline's document store with the lease its writers hold."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

from graphsync import connect
from graphsync.connectors.falkordb import sink as falkordb_sink
from graphsync.connectors.falkordb.sink import FalkorSink
from graphsync.connectors.files.lease import Lease
from graphsync.connectors.files.statements import Layout
from graphsync.connectors.files.store import DocumentStore, FalkorDocuments, Neo4jDocuments
from graphsync.connectors.graphs.reading import Store
from graphsync.connectors.neo4j import sink as neo4j_sink
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.connectors.neo4j.sink import Neo4jSink
from graphsync.connectors.rows import Form
from graphsync.spec.endpoints import FalkorDBTarget, Neo4jTarget, ZonedDateTimes
from graphsync.spec.mapping import Mappings
from graphsync.spec.pipeline import Mode, PipelineSpec

GraphSink = Neo4jSink | FalkorSink
# A FalkorDB snapshot is built aside in the graph of this suffix, then renamed into place.
BUILD_SUFFIX = "__graphsync_build"
# Batches a Neo4j sink applies at once (see writers).
CONCURRENT_WRITES = 2


def sink(spec: PipelineSpec, stack: ExitStack, *, graph: str | None = None) -> GraphSink:
    """The pipeline's sink, closed with `stack`; `graph` writes another FalkorDB graph (a rebuild's)."""
    # An incremental scan reads a row again with the version it had when its watermark did not move; a graph
    # source's snapshot writes versions from the same watermark, and the contents digests its increments compare.
    read = spec.source.graph
    ties = spec.mode is Mode.INCREMENTAL or (read is not None and read.reading.watermark_property is not None)
    if spec.target.falkordb is not None:
        target = spec.target.falkordb
        if graph is not None:
            target = target.model_copy(update={"graph": graph})
        return graph_sink(target, "target.falkordb", spec.mapped, stack, ties=ties)
    return graph_sink(spec.neo4j, "target.neo4j", spec.mapped, stack, ties=ties)


def graph_sink(
    endpoint: Neo4jTarget | FalkorDBTarget, field: str, mappings: Mappings, stack: ExitStack, *, ties: bool = False
) -> GraphSink:
    """A sink writing `mappings` into the graph at `endpoint` (a pipeline's target, or a bidirectional
    pipeline's source graph), closed with `stack`; `field` names the endpoint in connection errors;
    `ties`: a change as new as the target's version is written too (see slots.newer)."""
    made: GraphSink
    if isinstance(endpoint, FalkorDBTarget):
        made = FalkorSink(connect.falkordb_graph(endpoint, field), mappings, ties=ties, form=form_of(endpoint))
    else:
        made = Neo4jSink(connect.neo4j_driver(endpoint, field), mappings, database=endpoint.database, ties=ties)
    stack.callback(made.close)
    return made


def writers(spec: PipelineSpec) -> int:
    """Batches applied at once where the worker's reading is no longer what the target waits on (a logical
    capture): two into Neo4j, whose version-guarded writes may land in any order and whose transactions each
    use one core, when they lock no node in common (see connectors.footprint); one into FalkorDB, whose one
    connection serves one command at a time."""
    return CONCURRENT_WRITES if spec.target.neo4j is not None else 1


def form_of(endpoint: Neo4jTarget | FalkorDBTarget) -> Form:
    """How the graph at `endpoint` holds values (see rows.Form)."""
    utc = isinstance(endpoint, FalkorDBTarget) and endpoint.zoned_date_times is ZonedDateTimes.UTC
    return Form(utc_local=utc)


def form(spec: PipelineSpec) -> Form:
    """How the pipeline's target holds values: what its source is compared as."""
    return form_of(spec.target.falkordb or spec.neo4j)


def transient(spec: PipelineSpec, error: BaseException) -> bool:
    """Whether an error of the pipeline's target is an outage to wait out, as its sink would."""
    if spec.target.falkordb is not None:
        return falkordb_sink.transient(error)
    return neo4j_sink.transient(error)


def reader(spec: PipelineSpec, stack: ExitStack) -> Store:
    """The target graph to read (and write the engine's own records to), closed with `stack`."""
    made: Store
    if spec.target.falkordb is not None:
        made = connect.falkordb_graph(spec.target.falkordb, "target.falkordb")
    else:
        made = Neo4jReader(connect.neo4j_driver(spec.neo4j), database=spec.neo4j.database)
    stack.callback(made.close)
    return made


def document_store(spec: PipelineSpec, layout: Layout, stack: ExitStack) -> DocumentStore:
    store: DocumentStore
    if spec.target.falkordb is not None:
        store = FalkorDocuments(connect.falkordb_graph(spec.target.falkordb, "target.falkordb"), layout)
    else:
        target = spec.neo4j
        store = Neo4jDocuments(connect.neo4j_driver(target), layout, database=target.database)
    stack.callback(store.close)
    return store


def writer_lease(spec: PipelineSpec, store: DocumentStore, call: Callable[..., str | None]) -> Lease:
    """The lease every writer of this files pipeline holds while it writes (see `connectors.files.lease`)."""
    return Lease(store, f"{spec.identity}:files", call)
