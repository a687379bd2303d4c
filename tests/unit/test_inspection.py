"""dlq and conflicts through the worker: the worker's read-only /deadletters and /conflicts, and how the plugin
picks a worker and what it asks (no servers: the stores are stood in for)."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from typing import Any

import pytest

from graphsync import deadletters
from graphsync.commands import conflicts
from graphsync.conflicts.held import HeldConflict
from graphsync.runner.contracts import DeadLetter
from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.plugin import command, through
from graphsync_operator.plugin.steer import PluginError
from graphsync_operator.worker import health, heartbeat, inspection
from tests.resources import shop_spec

AT = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
SPEC = PipelineSpec.model_validate({**shop_spec(), "name": "shop"})
LETTER = {"id": 7, "entityType": "customer", "entityKey": 42, "operation": "upsert", "version": 9}
LETTER |= {"origin": None, "reason": "bad email", "attempts": 1, "failedAt": "2026-12-07T09:30:00+00:00"}
LETTER |= {"replayedAt": None, "payload": {}}


def test_the_worker_serves_reads_only_and_says_what_is_wrong_with_a_query() -> None:
    assert inspection.parse("/deadletters?all=true&limit=5") == inspection.Request("deadletters", True, 5)
    assert inspection.parse("/deadletters") == inspection.Request("deadletters", False, 100)
    assert inspection.parse("/conflicts?all=1") == inspection.Request("conflicts", True)
    assert inspection.parse("/conflicts/3f2a9c0d1b7e") == inspection.Request("conflicts", id="3f2a9c0d1b7e")
    assert inspection.parse("/deadletters?limit=0") == "limit: a whole number from 1 to 10000, got '0'"
    assert inspection.parse("/conflicts/a/b") is None
    assert inspection.parse("/replay") is None


def test_a_store_that_cannot_be_read_is_a_503_with_the_reason() -> None:
    def down(_spec: PipelineSpec, _request: inspection.Request) -> tuple[int, Any]:
        raise ConnectionError("connection refused")

    status, body = inspection.Inspector(SPEC, down)("/deadletters") or (0, b"")
    assert status == 503
    assert json.loads(body) == {"message": "cannot read the store: connection refused"}
    assert inspection.Inspector(SPEC, down)("/metrics") is None
    bad = inspection.Inspector(SPEC, down)("/deadletters?limit=x")
    assert bad is not None
    assert bad[0] == 400


def test_a_pipeline_without_a_store_says_so() -> None:
    # The shop pipeline is one-way: answered without opening any store.
    status, body = inspection.answer(SPEC, inspection.Request("conflicts"))
    assert status == 404
    assert body["message"].startswith("mode: conflicts are held by bidirectional pipelines")


def test_the_health_server_answers_them_beside_its_probes() -> None:
    reporter = heartbeat.Reporter(pod="p", interval=60, progress=lambda: None)
    answers = {"/deadletters?limit=1": (200, json.dumps({"deadLetters": [LETTER]}).encode())}
    server = health.HealthServer(0, reporter, health.Extras(inspect=answers.get))
    server.start()
    try:
        base = f"http://127.0.0.1:{server.port}"
        with urllib.request.urlopen(f"{base}/deadletters?limit=1", timeout=5) as response:
            assert response.headers["Content-Type"] == "application/json"
            assert json.load(response) == {"deadLetters": [LETTER]}
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/nothing", timeout=5)
        assert missing.value.code == 404
        missing.value.close()
    finally:
        server.close()


def pod(name: str, phase: str = "Running", ready: bool = True, **meta: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **meta},
        "spec": {"containers": [{"ports": [{"name": "http", "containerPort": 9090}]}]},
        "status": {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]},
    }


def test_the_plugin_asks_a_running_worker_ready_ones_first() -> None:
    assert through.chosen([pod("b", ready=False), pod("c"), pod("a", phase="Pending")]) == ("c", 9090)
    assert through.chosen([pod("b", ready=False)]) == ("b", 9090)
    assert through.chosen([pod("d", deletionTimestamp="2026-12-07T09:00:00Z")]) is None
    assert through.chosen([]) is None


def parsed(*argv: str) -> argparse.Namespace:
    return command.parser().parse_args(argv)


def test_reads_go_through_the_worker_unless_direct_or_an_address_says_otherwise() -> None:
    listing = parsed("dlq", "list", "shop", "--all", "--limit", "5")
    assert through.served(listing)
    assert through.request(listing) == ("/deadletters", [("all", "true"), ("limit", "5")], "deadLetters")
    assert not through.served(parsed("dlq", "list", "shop", "--direct"))
    assert not through.served(parsed("dlq", "list", "shop", "--address", "db:5432=127.0.0.1:15432"))
    assert not through.served(parsed("dlq", "replay", "shop"))
    shown = parsed("conflicts", "show", "twoway", "3f2a9c0d1b7e")
    assert through.served(shown)
    assert through.request(shown) == ("/conflicts/3f2a9c0d1b7e", [], "conflict")
    assert not through.served(parsed("conflicts", "resolve", "twoway", "x", "--take", "source"))


Query = list[tuple[str, str]]


class Cluster:
    """The plugin's view of a namespace: pods to list, and what a worker answers through the pod proxy."""

    def __init__(self, pods: list[dict[str, Any]]) -> None:
        self.pods = pods
        self.asked: list[tuple[str, int, str, list[tuple[str, str]]]] = []

    def list(self, _version: str, _kind: str, _namespace: str, selector: str) -> list[dict[str, Any]]:
        assert selector == "app.kubernetes.io/instance=shop,app.kubernetes.io/component=sync"
        return self.pods

    def get(self, *_args: Any) -> dict[str, Any] | None:
        return {"metadata": {"name": "shop"}}

    def proxy_get(self, _ns: str, name: str, port: int, path: str, query: Query) -> dict[str, Any]:
        self.asked.append((name, port, path, query))
        return {"deadLetters": [LETTER]}


def test_the_answer_prints_as_the_engine_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    cluster = Cluster([pod("shop-worker-1")])
    assert through.ask(cluster, "prod", parsed("dlq", "list", "shop", "-o", "json")) == 0  # type: ignore[arg-type]
    assert json.loads(capsys.readouterr().out) == [LETTER]
    assert cluster.asked == [("shop-worker-1", 9090, "/deadletters", [("all", "false"), ("limit", "100")])]
    with pytest.raises(PluginError, match=r"no running worker of SyncPipeline 'shop'.*--direct"):
        through.ask(Cluster([]), "prod", parsed("dlq", "list", "shop"))  # type: ignore[arg-type]


def test_the_worker_serves_no_row_values_only_keys_reasons_and_what_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    letter = DeadLetter(7, "customer", 42, "upsert", {"email": "ada@example.com"}, 9, None, "bad email", 1, AT, None)
    monkeypatch.setattr(deadletters, "listed", lambda *_args, **_kwargs: [letter])
    status, body = inspection.answer(SPEC, inspection.Request("deadletters"))
    assert status == 200
    [served] = body["deadLetters"]
    assert "payload" not in served
    assert (served["entityKey"], served["reason"]) == (42, "bad email")
    held = HeldConflict("3f2a9c0d1b7e", "person", 5, "person:5", {"name": "a"}, {"name": "b"}, None, "t0", {})
    record = inspection.without(conflicts.record(held), inspection.VALUES)
    assert (record["differs"], record["deletedOn"]) == (["name"], None)
    assert not {"source", "target", "base"} & set(record)
    shown = conflicts.show_text(record, False).splitlines()
    assert "source:  (the worker does not serve values: --direct reads them)" in shown
    assert shown[-1] == "differs: name"
    assert conflicts.list_text([record], False).splitlines()[1].split()[-1] == "name"
