"""The engine's tables in the source database, created by an idempotent migration.

Everything lives in one schema (default `graphsync`): the outbox, the per-entity
sync status, the dead-letter store and checkpoints. The DDL is constant text in
which only the validated schema name is substituted.

Several pipelines may share one schema, so every row says whose it is. Databases
migrated from before that (an outbox without `pipeline`, `graphsync_capture`
triggers) keep working: their open events have no pipeline, which is what an
application-published event looks like, so a relay fans them out to every
pipeline subscribed (mapping their entity type) when it first takes them (see
relay.py). After an upgrade that is the schema's one pipeline of before (two could
not share a schema then) and any other that has started by then: no one recorded
whose the events were, and a duplicate is harmless under version guards where a
lost event is not. The legacy trigger itself goes when a pipeline installs its own.
"""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg
from psycopg import sql

from graphsync.spec import identifiers

MIGRATION: LiteralString = """
CREATE SCHEMA IF NOT EXISTS {schema};

-- `pipeline` NULL: published by the application (or before pipelines were recorded), not yet fanned out.
CREATE TABLE IF NOT EXISTS {schema}.outbox (
    id             bigserial PRIMARY KEY,
    pipeline       text,
    entity_type    text        NOT NULL,
    entity_key     jsonb       NOT NULL,
    operation      text        NOT NULL CHECK (operation IN ('upsert', 'delete')),
    payload        jsonb       NOT NULL DEFAULT '{{}}',
    version        bigint,
    correlation_id text,
    status         text        NOT NULL DEFAULT 'pending'
                               CHECK (status IN ('pending', 'published', 'completed', 'failed')),
    attempts       integer     NOT NULL DEFAULT 0,
    last_error     text,
    created_at     timestamptz NOT NULL DEFAULT now(),
    published_at   timestamptz,
    completed_at   timestamptz
);
-- Upgrades, guarded so that an up-to-date schema takes no ACCESS EXCLUSIVE lock at every worker start:
-- writers' triggers and the relays would queue behind it, and lock upgrades across them could deadlock.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{schema}.outbox'::regclass
                   AND attname = 'pipeline' AND NOT attisdropped) THEN
        ALTER TABLE {schema}.outbox ADD COLUMN IF NOT EXISTS pipeline text;
    END IF;
    IF to_regclass('{schema}.outbox_open') IS NOT NULL THEN
        DROP INDEX {schema}.outbox_open;
    END IF;
END
$$;
-- A relay claims its own pipeline's open events, in id order; the fan-out takes events of no pipeline.
CREATE INDEX IF NOT EXISTS outbox_claim ON {schema}.outbox (pipeline, status, id)
    WHERE status IN ('pending', 'published');
CREATE INDEX IF NOT EXISTS outbox_unassigned ON {schema}.outbox (id)
    WHERE pipeline IS NULL AND status IN ('pending', 'published');
CREATE INDEX IF NOT EXISTS outbox_entity ON {schema}.outbox (entity_type, entity_key);

-- pipeline '': rows settled before pipelines were recorded.
CREATE TABLE IF NOT EXISTS {schema}.entity_status (
    pipeline     text        NOT NULL DEFAULT '',
    entity_type  text        NOT NULL,
    entity_key   jsonb       NOT NULL,
    status       text        NOT NULL CHECK (status IN ('pending', 'synced', 'failed')),
    version      bigint      NOT NULL,
    synced_at    timestamptz,
    last_error   text,
    PRIMARY KEY (pipeline, entity_type, entity_key)
);
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '{schema}.entity_status'::regclass
                   AND attname = 'pipeline' AND NOT attisdropped) THEN
        ALTER TABLE {schema}.entity_status ADD COLUMN IF NOT EXISTS pipeline text NOT NULL DEFAULT '';
    END IF;
    -- An entity has a status per pipeline: widen a key made before pipelines were recorded.
    IF NOT EXISTS (SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
                   WHERE i.indrelid = '{schema}.entity_status'::regclass AND i.indisprimary
                     AND a.attname = 'pipeline') THEN
        ALTER TABLE {schema}.entity_status DROP CONSTRAINT IF EXISTS entity_status_pkey;
        ALTER TABLE {schema}.entity_status ADD PRIMARY KEY (pipeline, entity_type, entity_key);
    END IF;
END
$$;

-- The streaming pipelines of this schema and the entity types they map: whom an event of no pipeline goes to.
CREATE TABLE IF NOT EXISTS {schema}.outbox_subscriber (
    pipeline      text        PRIMARY KEY,
    entity_types  text[]      NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS {schema}.dead_letter (
    id           bigserial PRIMARY KEY,
    pipeline     text        NOT NULL,
    entity_type  text        NOT NULL,
    entity_key   jsonb       NOT NULL,
    operation    text        NOT NULL,
    payload      jsonb       NOT NULL,
    version      bigint      NOT NULL,
    origin       text,
    reason       text        NOT NULL,
    attempts     integer     NOT NULL,
    failed_at    timestamptz NOT NULL DEFAULT now(),
    replayed_at  timestamptz
);
CREATE INDEX IF NOT EXISTS dead_letter_open ON {schema}.dead_letter (pipeline, id) WHERE replayed_at IS NULL;

CREATE TABLE IF NOT EXISTS {schema}.checkpoint (
    pipeline    text        NOT NULL,
    name        text        NOT NULL,
    value       jsonb       NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pipeline, name)
);

-- Bidirectional pipelines: what both sides last agreed on per entity (digest: unsigned 64 bits; data:
-- codec JSON, which keeps temporal types), and the conflicts a manual policy holds.
CREATE TABLE IF NOT EXISTS {schema}.ledger (
    pipeline    text           NOT NULL,
    entity      text           NOT NULL,
    ident       text           NOT NULL,
    digest      numeric(20, 0) NOT NULL,
    data        text           NOT NULL,
    PRIMARY KEY (pipeline, entity, ident)
);

CREATE TABLE IF NOT EXISTS {schema}.conflict (
    pipeline    text NOT NULL,
    id          text NOT NULL,
    record      text NOT NULL,
    PRIMARY KEY (pipeline, id)
);

-- The key of a row: one column's value, or an array of several columns' values.
CREATE OR REPLACE FUNCTION {schema}.entity_key(doc jsonb, cols text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN cardinality(cols) = 1 THEN doc -> cols[1]
                ELSE (SELECT jsonb_agg(doc -> c ORDER BY o) FROM unnest(cols) WITH ORDINALITY AS u(c, o)) END
$$;

-- The columns of a row that leave the database: those `listed` (how = 'keep'), or all but them ('drop').
CREATE OR REPLACE FUNCTION {schema}.project(doc jsonb, how text, listed text[]) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN doc IS NULL THEN NULL
                WHEN how = 'drop' THEN doc - listed
                ELSE coalesce((SELECT jsonb_object_agg(k, v) FROM jsonb_each(doc) AS e(k, v) WHERE k = ANY(listed)),
                              '{{}}'::jsonb) END
$$;

-- Installed on application tables by `Outbox.install_capture`, one trigger per pipeline; arguments:
-- pipeline, entity type, 'keep' or 'drop', the number of key columns, the key columns, the listed columns.
CREATE OR REPLACE FUNCTION {schema}.pipeline_capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    nkeys int := TG_ARGV[3]::int;
    cols text[] := TG_ARGV[4:3 + nkeys];
    listed text[] := coalesce(TG_ARGV[4 + nkeys:TG_NARGS - 1], '{{}}');
    doc jsonb;
    old_doc jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_doc := {schema}.project(to_jsonb(OLD), TG_ARGV[2], listed);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        doc := {schema}.project(to_jsonb(NEW), TG_ARGV[2], listed);
    END IF;
    -- Only mapped columns count: a change to an unmapped one is no event.
    IF TG_OP = 'UPDATE' AND doc = old_doc THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE'
            AND {schema}.entity_key(doc, cols) IS DISTINCT FROM {schema}.entity_key(old_doc, cols)) THEN
        -- A key change is the deletion of one entity and the creation of another.
        INSERT INTO {schema}.outbox (pipeline, entity_type, entity_key, operation, payload)
        VALUES (TG_ARGV[0], TG_ARGV[1], {schema}.entity_key(old_doc, cols), 'delete', old_doc);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO {schema}.outbox (pipeline, entity_type, entity_key, operation, payload)
        VALUES (TG_ARGV[0], TG_ARGV[1], {schema}.entity_key(doc, cols), 'upsert', doc);
    END IF;
    RETURN NULL;
END;
$$;

-- The trigger function of releases before per-pipeline capture, kept so that their `graphsync_capture`
-- triggers work until a pipeline takes their table over: their events have no pipeline and are fanned out.
CREATE OR REPLACE FUNCTION {schema}.capture() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cols text[] := TG_ARGV[1:TG_NARGS - 1];
    doc jsonb;
    old_doc jsonb;
BEGIN
    IF TG_OP <> 'INSERT' THEN
        old_doc := to_jsonb(OLD);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        doc := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' AND doc = old_doc THEN
        RETURN NEW;
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE'
            AND {schema}.entity_key(doc, cols) IS DISTINCT FROM {schema}.entity_key(old_doc, cols)) THEN
        -- A key change is the deletion of one entity and the creation of another.
        INSERT INTO {schema}.outbox (entity_type, entity_key, operation, payload)
        VALUES (TG_ARGV[0], {schema}.entity_key(old_doc, cols), 'delete', old_doc);
    END IF;
    IF TG_OP <> 'DELETE' THEN
        INSERT INTO {schema}.outbox (entity_type, entity_key, operation, payload)
        VALUES (TG_ARGV[0], {schema}.entity_key(doc, cols), 'upsert', doc);
    END IF;
    RETURN NULL;
END;
$$;
"""


def schema_name(value: str) -> sql.Identifier:
    return sql.Identifier(identifiers.check(value))


def migrate(conn: psycopg.Connection[Any], schema: str = "graphsync") -> None:
    """Create or update the engine's tables; safe to run any number of times, concurrently too."""
    statement = sql.SQL(MIGRATION).format(schema=schema_name(schema))
    with conn.transaction():
        # Two workers migrating at once must not race on CREATE ... IF NOT EXISTS.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('graphsync.migrate'))")
        conn.execute(statement)


def exists(conn: psycopg.Connection[Any], schema: str) -> bool:
    """Whether the engine's tables are there: on a database it never ran on, there is nothing to read or prune."""
    row = conn.execute(
        "SELECT to_regclass(format('%%I.checkpoint', %(schema)s::text)) IS NOT NULL", {"schema": schema}
    ).fetchone()
    return row is not None and bool(row[0])
