"""A PostgreSQL pipeline's capture in its source: the engine's tables, then triggers, an outbox subscription or
a replication slot, whichever the spec asks for (and none of the others)."""

from __future__ import annotations

from graphsync import connect
from graphsync.connectors.postgres import schema as pg_schema
from graphsync.connectors.postgres.logical.slot import Slot
from graphsync.connectors.postgres.outbox import Outbox
from graphsync.connectors.postgres.tables import tables_of
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.pipeline import Mode, PipelineSpec


def prepare_source(spec: PipelineSpec) -> None:
    """Create the engine's tables and the pipeline's capture (subscription, triggers or slot), and remove a
    capture of another kind it had before; idempotent. Every name comes from the identity, so pipelines
    sharing a table never meet."""
    postgres = spec.postgres
    streaming = spec.mode in (Mode.CONTINUOUS, Mode.SNAPSHOT_THEN_STREAM)
    capture = postgres.capture if streaming else None
    outbox = Outbox(postgres.schema_, pipeline=spec.identity)
    slot = Slot(spec.identity, postgres.schema_)
    tables = tables_of(spec.mapped)
    with connect.postgres(postgres, autocommit=True) as conn:
        pg_schema.migrate(conn, postgres.schema_)
        # The new capture first, then the old one goes: what only the old one caught is read again by the
        # resync of the new numbering (see epochs.Claim).
        if capture is CaptureMode.LOGICAL:
            slot.install(conn, spec.mapped)
        elif capture is not None:
            outbox.subscribe(conn, [table.entity for table in tables])
        for table in tables:
            if capture is CaptureMode.TRIGGERS:
                outbox.install_capture(
                    conn, table=table.name, entity_type=table.entity, key_columns=table.key, columns=table.columns
                )
            else:
                outbox.remove_capture(conn, table=table.name)
        if capture in (None, CaptureMode.LOGICAL):
            outbox.unsubscribe(conn)
        if capture is not CaptureMode.LOGICAL:
            slot.remove(conn)
