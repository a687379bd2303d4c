"""PostgreSQL: the pipeline's capture triggers on the mapped tables and the engine's schema.

Pipelines share tables and the engine's schema, so this removes what is this
pipeline's alone (its triggers, named from its identity, and its rows) and drops
the schema's objects only when no one else uses them: no other pipeline's rows or
subscription, no capture trigger left calling its functions.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from graphsync import connect
from graphsync.cleanup.report import CleanupReport
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.postgres.outbox import LEGACY_TRIGGER, Outbox, trigger_name
from graphsync.connectors.postgres.tables import tables_of
from graphsync.spec import identifiers
from graphsync.spec.pipeline import PipelineSpec

# What `schema.MIGRATION` creates (a unit test holds the two together).
ENGINE_TABLES = ("outbox", "entity_status", "outbox_subscriber", "dead_letter", "checkpoint", "ledger", "conflict")
ENGINE_FUNCTIONS = ("pipeline_capture", "capture", "project", "entity_key")
# The tables whose rows say which pipeline they belong to.
PIPELINE_TABLES = ("outbox", "entity_status", "outbox_subscriber", "dead_letter", "checkpoint", "ledger", "conflict")
# Never dropped, even when nothing is left in it: the database's default schema.
DEFAULT_SCHEMA = "public"

_OUR_TRIGGER = """
SELECT 1 FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE t.tgrelid = to_regclass(%(table)s) AND t.tgname = %(trigger)s
  AND n.nspname = %(schema)s AND p.proname = %(function)s
  AND (%(owner)s::text IS NULL OR split_part(encode(t.tgargs, 'escape'), '\\000', 1) = %(owner)s)
"""
# Tables whose triggers still call one of the schema's capture functions.
_CAPTURED = """
SELECT DISTINCT t.tgrelid::regclass::text AS captured FROM pg_trigger t
JOIN pg_proc p ON p.oid = t.tgfoid
JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.proname IN ('capture', 'pipeline_capture')
ORDER BY captured
"""
_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'p') AND c.relname = ANY(%(names)s)
"""
_FUNCTIONS = """
SELECT DISTINCT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = %(schema)s AND p.proname = ANY(%(names)s)
"""
_SCHEMA_EXISTS = "SELECT 1 FROM pg_namespace WHERE nspname = %s"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('graphsync.migrate'))"
# '' marks the statuses of releases before pipelines were recorded: no one's.
_OTHER_PIPELINES = "SELECT DISTINCT pipeline FROM {schema}.{table} WHERE pipeline <> %s AND pipeline <> ''"
_FORGET = "DELETE FROM {schema}.{table} WHERE pipeline = %s"
_DROP_TABLES = "DROP TABLE IF EXISTS {tables}"
_DROP_FUNCTIONS = (
    "DROP FUNCTION IF EXISTS {schema}.pipeline_capture(), {schema}.capture(),"
    " {schema}.project(jsonb, text, text[]), {schema}.entity_key(jsonb, text[])"
)
_DROP_SCHEMA = "DROP SCHEMA {schema}"


def postgres(spec: PipelineSpec, report: CleanupReport) -> None:
    source = spec.postgres
    schema = identifiers.check(source.schema_)
    with connect.postgres(source, autocommit=True) as conn:
        # First, and outside any transaction: a slot nobody reads keeps WAL from being recycled.
        report.replication += Slot(spec.identity, schema).remove(conn)
        _capture_and_schema(conn, spec, schema, report)


def _capture_and_schema(conn: psycopg.Connection[Any], spec: PipelineSpec, schema: str, report: CleanupReport) -> None:
    with conn.transaction():
        # The migration's lock: a worker starting meanwhile migrates before or after, never halfway.
        conn.execute(_LOCK)
        outbox = Outbox(schema, pipeline=spec.identity)
        mine = trigger_name(spec.identity)
        for table in tables_of(spec.mapped):
            # This pipeline's trigger, and one of an older release still on a table it maps (no one else's).
            for trigger, function, owner in (
                (mine, "pipeline_capture", spec.identity),
                (LEGACY_TRIGGER, "capture", None),
            ):
                # A trigger names its pipeline in its first argument: a hash clash never removes another's.
                params = {"table": regclass(table.name), "trigger": trigger, "schema": schema, "function": function}
                found = conn.execute(_OUR_TRIGGER, {**params, "owner": owner})
                if found.fetchone() is not None:
                    outbox.remove_capture(conn, table=table.name, legacy=owner is None)
                    if table.name not in report.triggers:
                        report.triggers.append(table.name)
        if conn.execute(_SCHEMA_EXISTS, (schema,)).fetchone() is None:
            return
        tables = [str(row[0]) for row in conn.execute(_TABLES, {"schema": schema, "names": list(ENGINE_TABLES)})]
        functions = [
            str(row[0]) for row in conn.execute(_FUNCTIONS, {"schema": schema, "names": list(ENGINE_FUNCTIONS)})
        ]
        if not tables and not functions:
            return
        users = _other_users(conn, schema, spec.identity, tables)
        if users:
            report.schema_rows += _forget(conn, schema, spec.identity, tables)
            report.kept.append(f"schema {schema}: still used by {users}")
            return
        _drop_engine_objects(conn, schema, tables, functions, report)


def regclass(table: str) -> str:
    """A table's name as `to_regclass` reads it, quoted as the engine quotes it when it installs a trigger."""
    identifiers.qualified(table)
    return ".".join(f'"{part}"' for part in table.split("."))


def _other_users(conn: psycopg.Connection[Any], schema: str, pipeline: str, tables: list[str]) -> str:
    """Who else uses the schema, as text ("" for nobody): other pipelines' rows, other tables' capture triggers."""
    others: set[str] = set()
    for table in PIPELINE_TABLES:
        if table in tables:
            query = sql.SQL(_OTHER_PIPELINES).format(schema=sql.Identifier(schema), table=sql.Identifier(table))
            others.update(str(row[0]) for row in conn.execute(query, (pipeline,)))
    captured = [str(row[0]) for row in conn.execute(_CAPTURED, {"schema": schema})]
    parts = []
    if others:
        parts.append(f"pipeline(s) {', '.join(sorted(others))}")
    if captured:
        parts.append(f"capture triggers on {', '.join(captured)}")
    return " and ".join(parts)


def _forget(conn: psycopg.Connection[Any], schema: str, pipeline: str, tables: list[str]) -> int:
    """Delete this pipeline's rows from a shared schema; returns how many."""
    deleted = 0
    for table in PIPELINE_TABLES:
        if table in tables:
            query = sql.SQL(_FORGET).format(schema=sql.Identifier(schema), table=sql.Identifier(table))
            deleted += conn.execute(query, (pipeline,)).rowcount
    return deleted


def _drop_engine_objects(
    conn: psycopg.Connection[Any], schema: str, tables: list[str], functions: list[str], report: CleanupReport
) -> None:
    """Drop the engine's tables and functions by name (never CASCADE), then the schema if that emptied it."""
    name = sql.Identifier(schema)
    if tables:
        ordered = [table for table in ENGINE_TABLES if table in tables]
        listed = sql.SQL(", ").join(sql.Identifier(schema, table) for table in ordered)
        conn.execute(sql.SQL(_DROP_TABLES).format(tables=listed))
    if functions:
        conn.execute(sql.SQL(_DROP_FUNCTIONS).format(schema=name))
    dropped = [f"{schema}.{t}" for t in ENGINE_TABLES if t in tables]
    dropped += [f"{schema}.{f}()" for f in ENGINE_FUNCTIONS if f in functions]
    if schema == DEFAULT_SCHEMA:
        report.schema_objects += dropped
        report.kept.append(f"schema {schema}: the database's default schema")
        return
    try:
        with conn.transaction():
            conn.execute(sql.SQL(_DROP_SCHEMA).format(schema=name))
    except psycopg.errors.DependentObjectsStillExist:
        report.schema_objects += dropped
        report.kept.append(f"schema {schema}: it holds objects besides the engine's")
        return
    report.schema = schema
    report.schema_objects += dropped
