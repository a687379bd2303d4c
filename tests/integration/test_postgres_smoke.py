"""PostgreSQL is the real server, configured for logical decoding."""

from __future__ import annotations

import psycopg
import pytest

from graphsync_dev import postgres
from graphsync_dev.service import Service
from tests.conftest import unique_name


def test_reports_postgres_15_with_logical_wal(postgres_service: Service) -> None:
    assert postgres.probe(postgres_service.env).startswith("postgresql 15.")
    assert postgres.probe(postgres_service.env).endswith("(wal_level=logical)")


def test_logical_replication_slot_decodes_a_committed_change(
    postgres_service: Service, pg_conn: psycopg.Connection[tuple[object, ...]]
) -> None:
    slot = unique_name("slot")
    pg_conn.execute("CREATE TABLE person (id int PRIMARY KEY, name text)")
    pg_conn.execute("SELECT pg_create_logical_replication_slot(%s, 'test_decoding')", (slot,))
    try:
        pg_conn.execute("INSERT INTO person VALUES (1, 'Ada')")
        changes = [
            row[0] for row in pg_conn.execute("SELECT data FROM pg_logical_slot_get_changes(%s, NULL, NULL)", (slot,))
        ]
    finally:
        pg_conn.execute("SELECT pg_drop_replication_slot(%s)", (slot,))
    assert any("person: INSERT: id[integer]:1 name[text]:'Ada'" in str(change) for change in changes), changes


def test_rejects_a_wrong_password(postgres_service: Service) -> None:
    env = postgres_service.env
    wrong = f"postgresql://{env['GRAPHSYNC_PG_USER']}:wrong@127.0.0.1:{env['GRAPHSYNC_PG_PORT']}/postgres"
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=3).close()


def test_server_does_not_run_as_root(pg_conn: psycopg.Connection[tuple[object, ...]]) -> None:
    row = pg_conn.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    with open(f"/proc/{row[0]}/status") as status:
        uid_line = next(line for line in status if line.startswith("Uid:"))
    assert uid_line.split()[1] != "0"
