"""How a PostgreSQL pipeline numbers its changes, for the target's version epochs (see graphsync.epochs)."""

from __future__ import annotations

from typing import Any, LiteralString

import psycopg

from graphsync.epochs import Scheme
from graphsync.spec.endpoints import CaptureMode
from graphsync.spec.pipeline import Mode, PipelineSpec

# The cluster (a restore into a new one changes it), how far its WAL has come (a restore in place goes
# back; flushed WAL, which a crash does not take back), and the engine's outbox table (recreated with the
# engine schema, its ids start again).
_INSTANCE: LiteralString = """
SELECT (SELECT system_identifier FROM pg_control_system())::text,
       (pg_current_wal_flush_lsn() - '0/0'::pg_lsn)::bigint,
       to_regclass(%(outbox)s)::oid::bigint
"""


def numbering(spec: PipelineSpec) -> str:
    """Which numbering the pipeline's versions come from, whatever source instance: snapshot start times,
    a watermark column's values, outbox ids (triggers and the application's outbox share the sequence),
    or commit positions in the WAL."""
    postgres = spec.postgres
    if spec.mode is Mode.SNAPSHOT:
        return "snapshot-time"
    if spec.mode is Mode.INCREMENTAL:
        return f"watermark:{postgres.watermark_column}"
    return "wal" if postgres.capture is CaptureMode.LOGICAL else "outbox"


def scheme_name(kind: str, system: str, outbox: int | None) -> str:
    """Positions in the WAL are one cluster's; outbox ids one engine schema's. Times and watermark values
    mean the same from any instance."""
    if kind == "wal":
        return f"wal@{system}"
    if kind == "outbox":
        return f"outbox@{system}/{outbox}"
    return kind


def scheme(conn: psycopg.Connection[Any], spec: PipelineSpec) -> Scheme:
    row = conn.execute(_INSTANCE, {"outbox": f"{spec.postgres.schema_}.outbox"}).fetchone()
    assert row is not None
    system, position, outbox = row
    return Scheme(scheme_name(numbering(spec), str(system), outbox), int(position))
