"""`graphsync checkpoints` on real servers: a pipeline's positions, read where each kind keeps them."""

from __future__ import annotations

import json
from typing import Any

import psycopg
import pytest

from graphsync import cli
from graphsync.positions import positions
from tests.integration.test_pg_to_neo4j import make_spec, seed, sync

__all__ = ["make_spec"]

Conn = psycopg.Connection[Any]


def by_store(spec: Any) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for position in positions(spec):
        found.setdefault(position.store, []).append(position)
    return found


def test_a_logical_pipeline_shows_its_snapshot_and_its_slot(make_spec: Any, pg_conn: Conn, schema: str) -> None:
    seed(pg_conn, schema, customers=10)
    spec = make_spec("logical", mode="snapshotThenStream", transport=None)
    sync(spec)
    found = by_store(spec)
    snapshot = {p.name: p.value for p in found["postgres"]}["snapshot"]
    assert snapshot["completed"] is True
    [slot] = found["slot"]
    assert slot.value["confirmed"]
    assert slot.value["active"] is False
    assert slot.detail.startswith(f"confirmed {slot.value['confirmed']}, idle")


def test_a_trigger_pipeline_shows_each_stream_group(
    make_spec: Any, pg_conn: Conn, schema: str, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(pg_conn, schema, customers=10)
    spec = make_spec("triggers", mode="continuous")
    sync(spec)
    # Captured from here on: the changes travel through the streams.
    pg_conn.execute("UPDATE customer SET name = name || '!'")
    sync(spec)
    groups = by_store(spec)["stream"]
    assert len(groups) == spec.redis_streams.partitions
    assert all(group.value["pending"] == 0 and group.value["lag"] == 0 for group in groups)
    assert sum(group.value["lastDelivered"] != "0-0" for group in groups) >= 1
    # The command prints the same, as JSON for a program.
    path = tmp_path / "pipeline.yaml"
    path.write_text(json.dumps(spec.model_dump(mode="json", by_alias=True, exclude_none=True)))
    assert cli.main(["checkpoints", "-f", str(path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert sorted({row["store"] for row in printed}) == ["stream"]
