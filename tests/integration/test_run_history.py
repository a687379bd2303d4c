"""The history of a pipeline's runs, on real servers: each sync run is recorded in the target when it starts,
while it goes and when it ends (completed, stopped, failed), a killed one reads as lost, and `graphsync
history` lists them beside the reconciliations."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import neo4j
import psycopg
import pytest
import yaml

from graphsync import capture, cli, history
from graphsync.pipelines import run
from graphsync.reconcile.pipeline import audit_store, reconcile
from graphsync.runner.control import RunControl
from graphsync.runner.stats import RunStats
from graphsync.spec.pipeline import PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from tests.conftest import eventually
from tests.integration.test_pg_to_neo4j import make_spec, schema, seed, sync

__all__ = ["make_spec", "schema"]

Conn = psycopg.Connection[Any]


def runs(spec: PipelineSpec, now: datetime | None = None) -> list[dict[str, Any]]:
    with ExitStack() as stack:
        return history.runs(audit_store(spec, stack), spec.identity, now=now)


def spec_file(spec: PipelineSpec, tmp_path: Path) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json", by_alias=True, exclude_none=True)))
    return path


def test_each_run_is_recorded_with_its_counts_and_how_it_ended(
    make_spec: Any,
    pg_conn: Conn,
    schema: str,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(pg_conn, schema, customers=20)
    snapshot = make_spec(mode="snapshot", transport=None)
    stats = sync(snapshot, history=True)
    [done] = runs(snapshot)
    assert (done["outcome"], done["mode"], done["kind"]) == ("completed", "snapshot", "sync")
    assert done["synced"] == stats.synced > 0
    assert done["finishedAt"] >= done["startedAt"]

    # A continuous run of the same pipeline: recorded as running from its start, stopped at its end.
    continuous = make_spec(mode="continuous")
    capture.prepare_source(continuous)
    stop = threading.Event()
    worker = threading.Thread(target=run.run, args=(continuous, RunControl(stop=stop, history=True)), daemon=True)
    worker.start()
    try:
        live = eventually(lambda: [r for r in runs(continuous) if r["outcome"] == "running"], "a running record")
        assert live[0]["mode"] == "continuous"
        assert live[0].get("finishedAt") is None
        pg_conn.execute("UPDATE customer SET tier = 'platinum' WHERE id <= 7")
        eventually(lambda: platinum(neo4j_driver) == 7, "the updates in Neo4j")
    finally:
        stop.set()
        worker.join(60)
    newest = runs(continuous)[0]
    assert newest["outcome"] == "stopped"
    assert newest["synced"] >= 7

    # A run that fails says why (here what watches it fails, as a full disk would under a worker's reporter).
    def full_disk(_: RunStats) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        sync(snapshot, history=True, on_batch=full_disk)
    failed = runs(snapshot)[0]
    assert failed["outcome"] == "failed"
    assert failed["error"] == "OSError: [Errno 28] No space left on device"

    # `graphsync history` lists sync runs and reconciliations together, newest first.
    reconcile(continuous, ReconcileSpec.model_validate({}), threading.Event())
    path = spec_file(continuous, tmp_path)
    assert cli.main(["history", "-f", str(path), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["kind"], r["outcome"]) for r in listed][:1] == [("reconcile", "inSync")]
    assert [r["outcome"] for r in listed if r["kind"] == "sync"] == ["failed", "stopped", "completed"]
    assert cli.main(["history", "-f", str(path), "--kind", "sync"]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split() == ["STARTED", "KIND", "WHAT", "OUTCOME", "COUNTS"]
    assert "stopped" in text
    assert f"synced {done['synced']:,}" in text
    assert "reconcile" not in text


def platinum(driver: neo4j.Driver) -> int:
    records, _, _ = driver.execute_query("MATCH (c:Customer {tier: 'platinum'}) RETURN count(c) AS n")
    return int(records[0]["n"])


def test_a_killed_run_reads_as_lost(make_spec: Any, pg_conn: Conn, schema: str, tmp_path: Path) -> None:
    seed(pg_conn, schema, customers=5)
    spec = make_spec(mode="continuous")
    path = spec_file(spec, tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "graphsync.cli", "run", "-f", str(path)])
    try:
        eventually(lambda: [r for r in runs(spec) if r["outcome"] == "running"], "the run's first record")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert runs(spec)[0]["outcome"] == "running"  # nothing said it ended...
    later = datetime.now(UTC) + timedelta(seconds=history.RECORD_SECONDS * (history.LOST_AFTER_PERIODS + 1))
    [lost] = runs(spec, now=later)  # ...but no word came for three periods
    assert lost["outcome"] == "lost"
    assert "its process ended" in lost["error"]
