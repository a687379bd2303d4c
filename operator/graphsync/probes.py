"""The facts `graphsync.preflight` decides on, asked of each server a pipeline uses.

Everything here only reads, but for one write to the target that deletes what it
creates in the same statement (the sink's own canary, the write it proves a target takes
before dead-lettering a record). A server that cannot be reached is a failed check
naming it, not an exception: the other sides are still checked.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import psycopg

from graphsync import connect, targets
from graphsync.connectors.graphs.reading import GraphReader
from graphsync.connectors.postgres.logical.slot import Slot, delete_columns
from graphsync.connectors.postgres.tables import Table, tables_of
from graphsync.preflight import (
    Check,
    PostgresFacts,
    TableFacts,
    failed,
    index_checks,
    ok,
    postgres_checks,
    wanted_indexes,
)
from graphsync.spec.endpoints import RedisStreams
from graphsync.spec.pipeline import PipelineSpec

_ROLE = """
SELECT current_user, current_setting('wal_level'),
       (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user),
       (SELECT count(*) > 0 FROM pg_namespace WHERE nspname = %(schema)s),
       CASE WHEN (SELECT count(*) > 0 FROM pg_namespace WHERE nspname = %(schema)s)
            THEN has_schema_privilege(%(schema)s, 'CREATE')
            ELSE has_database_privilege(current_database(), 'CREATE') END
"""
_TABLE = """
SELECT has_table_privilege(c.oid, 'SELECT'), has_table_privilege(c.oid, 'TRIGGER'),
       has_table_privilege(c.oid, 'INSERT'), has_table_privilege(c.oid, 'UPDATE'),
       has_table_privilege(c.oid, 'DELETE'), pg_has_role(c.relowner, 'USAGE')
FROM pg_class c WHERE c.oid = to_regclass(%(table)s)
"""
_PRIVILEGES = ("SELECT", "TRIGGER", "INSERT", "UPDATE", "DELETE")
# Every index and constraint, by what it covers: label (or relationship type) and properties.
_NEO4J_INDEXES = "SHOW INDEXES YIELD labelsOrTypes, properties RETURN labelsOrTypes, properties"
_FALKOR_INDEXES = "CALL db.indexes() YIELD label, properties RETURN label, properties"


def run(spec: PipelineSpec) -> list[Check]:
    """Every check of the pipeline, source first, then its transport and target."""
    found = _source(spec)
    if spec.transport is not None and spec.transport.redis_streams is not None:
        streams = spec.transport.redis_streams
        found += _attempt("transport", "connect", lambda: [ok("transport", "connect", _ping(streams))])
    found += _attempt("target", "connect", lambda: _target(spec))
    return found


def _source(spec: PipelineSpec) -> list[Check]:
    source = spec.source
    if source.postgres is not None:
        return _attempt("source", "connect", lambda: _postgres(spec))
    if source.files is not None:
        return [ok("source", "files", "not checked here: the worker fetches the repository or directory")]
    return _attempt("source", "connect", lambda: _graph_source(spec))


def _attempt(side: str, name: str, checks: Callable[[], list[Check]]) -> list[Check]:
    """`checks()`, or one failed check saying why the side could not be reached (or asked)."""
    try:
        return checks()
    except Exception as exc:  # noqa: BLE001 - whatever a driver raises, the user reads it as a failed check
        return [failed(side, name, f"{type(exc).__name__}: {str(exc).strip() or 'no answer'}")]


def _postgres(spec: PipelineSpec) -> list[Check]:
    postgres = spec.postgres
    mappings = spec.mappings
    tables = tables_of(mappings) if mappings is not None else []
    with connect.postgres(postgres, autocommit=True) as conn:
        server = conn.info.parameter_status("server_version") or "?"
        row = conn.execute(_ROLE, {"schema": postgres.schema_}).fetchone()
        user, wal_level, replication, exists, usable = row if row is not None else ("?", "?", False, False, False)
        facts = PostgresFacts(
            user=str(user),
            wal_level=str(wal_level),
            replication=bool(replication),
            schema_exists=bool(exists),
            schema_usable=bool(usable),
            tables=[_table(conn, spec, table) for table in tables],
        )
    found = [ok("source", "connect", f"PostgreSQL {server} as {facts.user}")]
    return found + postgres_checks(
        facts,
        mode=spec.mode,
        capture=postgres.capture,
        schema=postgres.schema_,
        needed=delete_columns(mappings) if mappings is not None else {},
    )


def _table(conn: psycopg.Connection[Any], spec: PipelineSpec, table: Table) -> TableFacts:
    row = conn.execute(_TABLE, {"table": table.name}).fetchone()
    if row is None:
        return TableFacts(table, exists=False)
    privileges = frozenset(name for name, granted in zip(_PRIVILEGES, row[:5], strict=True) if granted)
    shape = Slot(spec.identity, spec.postgres.schema_).shape(conn, table.name) if "SELECT" in privileges else None
    return TableFacts(table, exists=True, privileges=privileges, owned=bool(row[5]), shape=shape)


def _graph_source(spec: PipelineSpec) -> list[Check]:
    neo4j, falkordb = spec.source.neo4j, spec.source.falkordb
    if neo4j is not None:
        with connect.neo4j_driver(neo4j, "source.neo4j") as driver:
            driver.verify_connectivity()
        return [ok("source", "connect", f"Neo4j at {neo4j.uri}")]
    if falkordb is None:
        return [failed("source", "connect", "no source is set")]
    reader: GraphReader = connect.falkordb_graph(falkordb, "source.falkordb")
    try:
        reader.read("RETURN 1")
    finally:
        reader.close()
    return [ok("source", "connect", f"FalkorDB at {falkordb.url.split('@')[-1]}")]


def _ping(streams: RedisStreams) -> str:
    client = connect.redis_client(streams)
    try:
        client.ping()
    finally:
        client.close()
    return f"Redis at {streams.url.split('@')[-1]}"


def _target(spec: PipelineSpec) -> list[Check]:
    """Connect and write (the sink's own ping and canary), then the indexes its lookups use."""
    with ExitStack() as stack:
        sink = targets.sink(spec, stack)
        sink.ping()
        kind = "FalkorDB" if spec.target.falkordb is not None else "Neo4j"
        found = [ok("target", "connect", kind)]
        try:
            sink.canary()
            found.append(ok("target", "write", "a node created and deleted"))
        except Exception as exc:  # noqa: BLE001 - a refused write is what this asks
            found.append(failed("target", "write", f"refused: {str(exc).strip()}"))
        if spec.mappings is not None:
            found += index_checks(wanted_indexes(spec.mappings), _indexes(spec, stack))
    return found


def _indexes(spec: PipelineSpec, stack: ExitStack) -> list[tuple[str, str]]:
    """(label or type, property) of every single-property index and constraint of the target."""
    reader = targets.reader(spec, stack)
    falkor = spec.target.falkordb is not None
    present = []
    for labels, properties in reader.read(_FALKOR_INDEXES if falkor else _NEO4J_INDEXES):
        covered = list(properties or [])
        # A composite index serves no lookup by one key; a lookup index (no label) none by a property.
        if len(covered) != 1:
            continue
        for label in [labels] if isinstance(labels, str) else list(labels or []):
            present.append((str(label), str(covered[0])))
    return present
