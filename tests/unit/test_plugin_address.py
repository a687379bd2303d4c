"""`--address NAME:PORT=HOST:PORT` of `kubectl graphsync dlq|conflicts`, and `graphsync kubectl`'s hand-over."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest

from graphsync import cli
from graphsync.commands import conflicts, deadletter
from graphsync.commands import kubectl as kubectl_command
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.plugin import address, command
from graphsync_operator.plugin.address import Address
from graphsync_operator.plugin.steer import PluginError
from tests.resources import shop_spec

PG = "postgres.shop.svc:5432"


def spec(**changes: Any) -> PipelineSpec:
    return PipelineSpec.model_validate({"name": "shop", **shop_spec(), **changes})


def moved(text: str, *addresses: str) -> str:
    return address.rewrite_url(text, {a.cluster: a.local for a in map(address.parse, addresses)}, set())


def test_an_address_is_name_port_equals_host_port() -> None:
    assert address.parse(f"{PG}=127.0.0.1:15432") == Address(PG, "127.0.0.1:15432")
    assert address.parse("Neo4j.Shop.svc:7687=[::1]:17687") == Address("neo4j.shop.svc:7687", "[::1]:17687")
    for bad, named in [
        ("postgres.shop.svc:5432", "expected NAME:PORT=HOST:PORT"),
        ("postgres.shop.svc=127.0.0.1:15432", "'postgres.shop.svc' is not NAME:PORT"),
        (f"{PG}=127.0.0.1", "'127.0.0.1' is not HOST:PORT"),
        (f"{PG}=127.0.0.1:99999", "'127.0.0.1:99999' is not HOST:PORT"),
        (f"{PG}=user@host:1", "'user@host' is not a host name"),
    ]:
        with pytest.raises(ValueError, match=named):
            address.parse(bad)


def test_urls_keep_their_user_path_and_query_and_default_ports_count() -> None:
    assert (
        moved(f"postgresql://app@{PG}/shop?sslmode=disable", f"{PG}=127.0.0.1:15432")
        == "postgresql://app@127.0.0.1:15432/shop?sslmode=disable"
    )
    # No port in the URL: the scheme's own (5432, 6379, 7687) is what --address names.
    assert moved("postgres://app@postgres.shop.svc/shop", f"{PG}=localhost:1") == "postgres://app@localhost:1/shop"
    assert moved("redis://redis.shop.svc/0", "redis.shop.svc:6379=localhost:16379") == "redis://localhost:16379/0"
    assert moved("rediss://Redis.shop.svc:6380", "redis.shop.svc:6380=localhost:2") == "rediss://localhost:2"
    assert moved("bolt://neo4j.shop.svc", "neo4j.shop.svc:7687=localhost:17687") == "bolt://localhost:17687"
    assert moved("neo4j+s://neo4j.shop.svc:7687", "neo4j.shop.svc:7687=localhost:3") == "neo4j+s://localhost:3"
    # A PostgreSQL URL may list hosts: each is mapped on its own; another port is another address.
    assert (
        moved(f"postgresql://app@{PG},replica.shop.svc:5432/shop", f"{PG}=localhost:4")
        == "postgresql://app@localhost:4,replica.shop.svc:5432/shop"
    )
    assert moved("postgresql://app@postgres.shop.svc:6543/shop", f"{PG}=localhost:4").endswith("svc:6543/shop")


def test_every_endpoint_of_the_spec_is_rewritten() -> None:
    original = spec(
        source={"postgres": {"url": f"postgresql://app@{PG}/shop"}},
        transport={"redisStreams": {"url": "redis://redis.shop.svc:6379/0"}},
        target={"neo4j": {"uri": "neo4j://neo4j.shop.svc:7687"}},
    )
    addresses = [
        address.parse(f"{PG}=127.0.0.1:15432"),
        address.parse("redis.shop.svc:6379=127.0.0.1:16379"),
        address.parse("neo4j.shop.svc:7687=127.0.0.1:17687"),
    ]
    rewritten = address.rewrite(original, addresses)
    assert rewritten.postgres.url == "postgresql://app@127.0.0.1:15432/shop"
    assert rewritten.redis_streams.url == "redis://127.0.0.1:16379/0"
    assert rewritten.target.neo4j is not None
    assert rewritten.target.neo4j.uri == "neo4j://127.0.0.1:17687"
    # Only the addresses change: the rest of the spec (and the original) stays as it was.
    assert rewritten.model_dump(exclude={"source", "transport", "target"}) == original.model_dump(
        exclude={"source", "transport", "target"}
    )
    assert original.postgres.url == f"postgresql://app@{PG}/shop"
    assert address.rewrite(original, []) is original


def test_both_sides_of_a_bidirectional_pipeline_and_falkordb_are_rewritten() -> None:
    customer = {"name": "customer", "table": "shop.customer", "labels": ["Customer"], "key": "id"}
    twoway = spec(
        mode="bidirectional",
        transport=None,
        mappings={"nodes": [customer]},
        source={"postgres": {"url": f"postgresql://app@{PG}/shop"}},
        target={"falkordb": {"url": "redis://falkordb.shop.svc", "graph": "shop"}},
    )
    rewritten = address.rewrite(
        twoway, [address.parse(f"{PG}=localhost:1"), address.parse("falkordb.shop.svc:6379=localhost:2")]
    )
    assert rewritten.postgres.url == "postgresql://app@localhost:1/shop"
    assert rewritten.target.falkordb is not None
    assert rewritten.target.falkordb.url == "redis://localhost:2"


def test_an_address_that_matches_no_endpoint_is_named() -> None:
    with pytest.raises(PluginError, match=r"--address postgres\.shop:5432: no endpoint of pipeline shop") as raised:
        address.rewrite(spec(), [address.parse("postgres.shop:5432=localhost:1")])
    # The message lists the endpoints there are, so the user sees the typo.
    assert "db.example:5432, redis.example:6379, neo4j.example:7687" in str(raised.value)


def test_dlq_and_conflicts_take_addresses_and_refuse_malformed_ones(capsys: pytest.CaptureFixture[str]) -> None:
    parser = command.parser()
    args = parser.parse_args(["dlq", "list", "shop", "--address", f"{PG}=localhost:1", "--address", "a:1=b:2"])
    assert args.addresses == [Address(PG, "localhost:1"), Address("a:1", "b:2")]
    assert parser.parse_args(["conflicts", "list", "shop"]).addresses == []
    with pytest.raises(SystemExit) as exited:
        parser.parse_args(["conflicts", "list", "shop", "--address", "postgres.shop.svc"])
    assert exited.value.code == 2
    assert "--address: 'postgres.shop.svc': expected NAME:PORT=HOST:PORT" in capsys.readouterr().err


def test_engine_commands_say_which_program_speaks(capsys: pytest.CaptureFixture[str]) -> None:
    args = argparse.Namespace(conflicts_command="list", data=None, all=False, json=False)
    assert conflicts.act(spec(), args, "kubectl graphsync") == 2
    assert capsys.readouterr().err.startswith("kubectl graphsync: mode: conflicts are held by bidirectional")
    bad = argparse.Namespace(file=Path("/nonexistent/spec.yaml"), dlq_command="list")
    assert deadletter.main(bad) == 2
    assert capsys.readouterr().err.startswith("graphsync: /nonexistent/spec.yaml:")
    assert conflicts.main(bad) == 2
    assert capsys.readouterr().err.startswith("graphsync conflicts: /nonexistent/spec.yaml:")


def test_graphsync_kubectl_hands_over_to_the_operator_beside_this_python_first(tmp_path: Path) -> None:
    def on_path(name: str) -> str:
        return f"/usr/local/bin/{name}"

    arguments = ["kubectl", "-n", "prod", "status", "shop"]
    assert kubectl_command.command_line(arguments, tmp_path, on_path) == [
        "/usr/local/bin/graphsync-operator",
        *arguments,
    ]
    beside = tmp_path / "graphsync-operator"
    beside.write_text("#!/bin/sh\n")
    beside.chmod(0o755)
    assert kubectl_command.command_line(arguments, tmp_path, on_path) == [str(beside), *arguments]
    assert kubectl_command.command_line(arguments, tmp_path / "elsewhere", lambda _: None) is None


def test_graphsync_kubectl_without_the_operator_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    assert cli.main(["kubectl", "-n", "prod", "status"]) == 2
    assert "graphsync kubectl: graphsync-operator was found neither next to" in capsys.readouterr().err
