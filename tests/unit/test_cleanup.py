"""The pure parts of `graphsync cleanup`: which keys, tombstones, tables and mirrors are a pipeline's, and its output.

The commands at the end run against ports nothing listens on: no server is needed
to see that each side out of reach is named.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync import cli
from graphsync.change import Change, Operation
from graphsync.cleanup import (
    ENGINE_FUNCTIONS,
    ENGINE_TABLES,
    PIPELINE_TABLES,
    CleanupReport,
    _address,
    key_pattern,
    key_prefix,
    mirror_of,
    regclass,
    tombstone_prefix,
)
from graphsync.commands.cleanup import report_text
from graphsync.conflicts.held import Base
from graphsync.connectors.files.repository import Git
from graphsync.connectors.postgres.schema import MIGRATION
from graphsync.connectors.redis.ledger import RedisConflicts, RedisLedger
from graphsync.connectors.redis.state import RedisCheckpoints, RedisDeadLetters
from graphsync.connectors.rows import entity_id
from graphsync.runner.contracts import Rejection
from graphsync.spec.files import FilesSource

OPERATOR = str(Path(sys.executable).parent / "graphsync-operator")


class Recorder:
    """A stand-in Redis client that records the key of every command (and is its own pipeline)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def __getattr__(self, command: str) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            if command == "pipeline":
                return self
            if command == "execute":
                return []
            if args:
                self.keys.add(str(args[0]))
            return 1 if command == "incrby" else None

        return call


def engine_keys(pipeline: str) -> set[str]:
    """Every key the engine's Redis state classes write for `pipeline`."""
    client: Any = Recorder()
    RedisCheckpoints(client, pipeline=pipeline).put("snapshot", {"completed": True})
    RedisDeadLetters(client, pipeline=pipeline).record(
        [Rejection(Change("person", 1, Operation.UPSERT, 1, {"id": 1}), "bad")]
    )
    RedisLedger(client, pipeline=pipeline).put("person", {'["person",1]': Base(1, {"id": 1})})
    RedisConflicts(client, pipeline=pipeline).hold(
        "person", 1, '["person",1]', {"source": None, "target": None, "base": None}, shape={}
    )
    return client.keys  # type: ignore[no-any-return]


def test_every_key_the_engine_writes_for_a_pipeline_is_under_its_prefix_and_none_of_another_pipeline_is() -> None:
    keys = engine_keys("shop")
    assert keys == {
        "graphsync:shop:checkpoint",
        "graphsync:shop:dead-letter",
        "graphsync:shop:dead-letter-id",
        "graphsync:shop:ledger:person",
        "graphsync:shop:conflicts",
    }
    assert all(key.startswith(key_prefix("shop")) for key in keys)
    # The streams of `graphsync run` (partition i of pipeline shop), and their group, live on the stream keys.
    assert all(fnmatch.fnmatchcase(key, key_pattern("shop")) for key in [*keys, "graphsync:shop:0"])
    for other in ("shop2", "shop-eu", "sho"):
        assert not any(fnmatch.fnmatchcase(key, key_pattern("shop")) for key in engine_keys(other))
        assert not any(key.startswith(key_prefix("shop")) for key in engine_keys(other))
        assert not fnmatch.fnmatchcase(f"graphsync:{other}:0", key_pattern("shop"))


def test_the_scan_pattern_escapes_glob_characters() -> None:
    assert key_pattern("shop") == "graphsync:shop:*"
    assert key_pattern("a*b?[c]\\") == "graphsync:a\\*b\\?\\[c\\]\\\\:*"


@pytest.mark.parametrize("key", [1, 42, "abc", 'with "quotes"', [1, 2], ["a", 3], None])
def test_tombstones_of_an_entity_type_start_with_its_prefix_and_no_other_types_do(key: Any) -> None:
    assert entity_id("customer", key).startswith(tombstone_prefix("customer"))
    for other in ("customers", "customer2", "Customer", "order"):
        assert not entity_id(other, key).startswith(tombstone_prefix("customer"))


def test_a_tombstone_prefix_needs_an_entity_name() -> None:
    with pytest.raises(ValueError, match="not a valid identifier"):
        tombstone_prefix('x",')


def test_the_engine_objects_are_those_the_migration_creates() -> None:
    tables = re.findall(r"CREATE TABLE IF NOT EXISTS \{schema\}\.(\w+)", MIGRATION)
    functions = re.findall(r"CREATE OR REPLACE FUNCTION \{schema\}\.(\w+)", MIGRATION)
    assert sorted(tables) == sorted(ENGINE_TABLES)
    assert sorted(functions) == sorted(ENGINE_FUNCTIONS)
    blocks = dict(re.findall(r"CREATE TABLE IF NOT EXISTS \{schema\}\.(\w+) \((.*?)\n\);", MIGRATION, re.DOTALL))
    keyed = sorted(name for name, body in blocks.items() if re.search(r"^\s+pipeline\s", body, re.MULTILINE))
    assert keyed == sorted(PIPELINE_TABLES)


def test_a_table_is_looked_up_quoted_as_the_trigger_was_created() -> None:
    assert regclass("shop.Customer") == '"shop"."Customer"'
    assert regclass("orders") == '"orders"'
    with pytest.raises(ValueError, match="not a valid identifier"):
        regclass('shop."x')


def test_the_mirror_of_a_remote_repository_is_where_the_reader_puts_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRAPHSYNC_CACHE_DIR", str(tmp_path))
    remote = FilesSource.model_validate({"git": {"url": "https://git.example/docs.git"}})
    assert remote.git is not None
    mirror = mirror_of(remote)
    assert mirror is not None
    assert mirror == Git(remote.git, remote.include, tmp_path / "repositories")._dir
    assert mirror_of(FilesSource.model_validate({"git": {"url": "/srv/docs"}})) is None
    assert mirror_of(FilesSource.model_validate({"directory": "/srv/docs"})) is None


def test_a_server_is_named_without_its_credentials() -> None:
    assert _address("redis://:secret@cache:6379/0") == "redis://cache:6379/0"
    assert _address("postgresql://app@db:5432/shop") == "postgresql://db:5432/shop"
    assert _address("bolt://neo4j:7687") == "bolt://neo4j:7687"


def test_the_text_lists_what_was_removed_and_kept_or_says_nothing_was_left() -> None:
    assert report_text(CleanupReport("shop").summary()) == "cleanup of pipeline shop: nothing to remove"
    assert not CleanupReport("shop").removed
    report = CleanupReport(
        "shop",
        triggers=["app.customer", "app.orders"],
        schema="graphsync",
        schema_objects=["graphsync.outbox", "graphsync.capture()"],
        streams=["graphsync:shop:0"],
        groups=["graphsync:shop:0 graphsync-shop"],
        tombstones=3,
        versions_reset=1200,
        audit_runs=2,
        kept=["schema x: still used by pipeline(s) other"],
    )
    text = report_text(report.summary())
    assert text.splitlines()[0] == "cleanup of pipeline shop: removed"
    assert "capture triggers:" in text
    assert "app.customer, app.orders" in text
    assert re.search(r"engine schema:\s+graphsync dropped", text)
    assert "graphsync:shop:0 graphsync-shop" in text
    assert re.search(r"version marks reset:\s+1,200", text)
    assert "kept: schema x: still used by pipeline(s) other" in text
    summary = report.summary()
    assert summary["removed"] is True
    assert summary["versionsReset"] == 1200


def unreachable(name: str = "shop") -> dict[str, Any]:
    """A streaming PostgreSQL pipeline whose every server is a port nothing listens on."""
    return {
        "name": name,
        "source": {"postgres": {"url": "postgresql://app@127.0.0.1:1/shop", "schema": "graphsync"}},
        "transport": {"redisStreams": {"url": "redis://127.0.0.1:1/0"}},
        "target": {"neo4j": {"uri": "bolt://127.0.0.1:1"}},
        "mappings": {"nodes": [{"name": "customer", "table": "app.customer", "labels": ["Customer"], "key": "id"}]},
    }


def test_the_command_exits_2_for_a_bad_spec(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({**unreachable(), "mode": "sideways"}))
    assert cli.main(["cleanup", "-f", str(path)]) == 2
    assert "mode" in capsys.readouterr().err
    assert cli.main(["cleanup", "-f", str(tmp_path / "missing.yaml")]) == 2


def test_the_command_exits_1_naming_every_side_out_of_reach(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(unreachable()))
    assert cli.main(["cleanup", "-f", str(path)]) == 1
    captured = capsys.readouterr()
    errors = captured.err.splitlines()
    assert [line.split(" (")[0] for line in errors] == [
        "graphsync cleanup: source.postgres",
        "graphsync cleanup: transport.redisStreams",
        "graphsync cleanup: target.neo4j",
    ]
    assert "(postgresql://127.0.0.1:1/shop)" in errors[0]
    assert "(redis://127.0.0.1:1/0)" in errors[1]
    assert "secret" not in captured.err + captured.out
    assert captured.out.strip() == "cleanup of pipeline shop: nothing to remove"


def test_the_worker_runs_cleanup_with_the_same_exit_statuses(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "GRAPHSYNC_HTTP_PORT": "0"}
    missing = subprocess.run(
        [OPERATOR, "worker", "cleanup", "-f", str(tmp_path / "missing.yaml")],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert missing.returncode == 2
    assert "missing.yaml" in missing.stderr
    path = tmp_path / "pipeline.yaml"
    path.write_text(
        yaml.safe_dump({**unreachable(), "target": {"falkordb": {"url": "redis://127.0.0.1:1", "graph": "g"}}})
    )
    failed = subprocess.run(
        [OPERATOR, "worker", "cleanup", "-f", str(path)],
        check=False,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert failed.returncode == 1
    assert failed.stdout.strip() == "cleanup of pipeline shop: nothing to remove"
    # The final state names the first side that failed; each one has a line of its own.
    assert "-> failed: source.postgres (postgresql://127.0.0.1:1/shop)" in failed.stderr
    for side in ("source.postgres", "transport.redisStreams", "target.falkordb"):
        assert f"graphsync-operator worker cleanup: {side} (" in failed.stderr
