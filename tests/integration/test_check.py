"""`graphsync check -f` on real servers: what would stop a pipeline is found before it runs, each named with its fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from graphsync import cli
from graphsync.spec.pipeline import PipelineSpec
from graphsync_dev.process import free_port
from tests.integration.test_pg_to_neo4j import sync

Conn = psycopg.Connection[Any]


def checked(document: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(document))
    code = cli.main(["check", "-f", str(path), "-o", "json"])
    return code, {f"{c['side']} {c['name']}": c for c in json.loads(capsys.readouterr().out)}


@pytest.fixture
def logical(base: dict[str, Any]) -> dict[str, Any]:
    source = {**base["source"], "postgres": {**base["source"]["postgres"], "capture": "logical"}}
    return {**base, "source": source, "mode": "snapshotThenStream", "transport": None}


@pytest.fixture
def reader(pg_conn: Conn, schema: str) -> Iterator[tuple[str, str]]:
    """A role that may log in and read one table of the schema, nothing else."""
    name = f"check_{schema}"[:60]
    pg_conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'reader'")
    pg_conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {name}")
    pg_conn.execute(f"GRANT SELECT ON {schema}.customer TO {name}")
    yield name, "reader"
    pg_conn.execute(f"DROP OWNED BY {name}")
    pg_conn.execute(f"DROP ROLE {name}")


def test_a_ready_pipeline_passes_and_its_indexes_show_once_it_ran(
    logical: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {k: v for k, v in logical.items() if v is not None}
    code, said = checked(document, tmp_path, capsys)
    failed = {name: c["detail"] for name, c in said.items() if c["outcome"] == "failed"}
    assert (code, failed) == (0, {})
    assert said["source connect"]["detail"].startswith("PostgreSQL ")
    assert said["source wal_level"]["outcome"] == "ok"
    assert said["target write"]["outcome"] == "ok"
    schema = logical["source"]["postgres"]["schema"]
    assert said[f"source replica identity of {schema}.customer"]["detail"] == "id"
    sync(PipelineSpec.model_validate(document))
    code, said = checked(document, tmp_path, capsys)
    indexes = {name: c["outcome"] for name, c in said.items() if " index on " in name}
    assert indexes
    assert set(indexes.values()) == {"ok"}, indexes


def test_a_table_without_a_replica_identity_is_named_with_the_fix(
    logical: dict[str, Any], pg_conn: Conn, schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pg_conn.execute(f"ALTER TABLE {schema}.customer REPLICA IDENTITY NOTHING")
    code, said = checked({k: v for k, v in logical.items() if v is not None}, tmp_path, capsys)
    assert code == 1
    identity = said[f"source replica identity of {schema}.customer"]
    assert identity["outcome"] == "failed"
    assert f"ALTER TABLE {schema}.customer REPLICA IDENTITY FULL" in identity["detail"]


def test_a_user_who_may_only_read_one_table_is_told_each_grant(
    logical: dict[str, Any],
    reader: tuple[str, str],
    schema: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    user, password = reader
    monkeypatch.setenv("TEST_READER_PASSWORD", password)
    postgres = logical["source"]["postgres"]
    url = f"postgresql://{user}@{postgres['url'].split('@', 1)[1]}"
    document = {
        **logical,
        "source": {"postgres": {**postgres, "url": url, "password": {"env": "TEST_READER_PASSWORD"}}},
    }
    code, said = checked({k: v for k, v in document.items() if v is not None}, tmp_path, capsys)
    assert code == 1
    assert said["source replication"]["detail"] == f"capture logical needs ALTER ROLE {user} REPLICATION"
    assert said[f"source table {schema}.customer"]["outcome"] == "ok"
    orders = said[f"source table {schema}.orders"]
    assert orders["detail"] == f"{user} lacks SELECT: GRANT SELECT ON {schema}.orders TO {user}"
    assert said[f"source publication of {schema}.customer"]["outcome"] == "failed"


def test_a_target_nothing_answers_on_is_a_failed_check_and_the_source_is_still_checked(
    base: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    document = {**base, "target": {"neo4j": {"uri": f"bolt://127.0.0.1:{free_port()}"}}}
    code, said = checked(document, tmp_path, capsys)
    assert code == 1
    assert said["target connect"]["outcome"] == "failed"
    assert said["source connect"]["outcome"] == "ok"
    assert said["transport connect"]["outcome"] == "ok"
