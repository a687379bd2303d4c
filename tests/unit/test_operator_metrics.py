"""The operator's metrics on plain data: resources by phase and readiness, reconciliation figures, request
paths as resources, and what one handler invocation counts and logs."""

from __future__ import annotations

import argparse
import platform
from typing import Any

import kopf
import pytest
from prometheus_client.exposition import generate_latest

import graphsync
from graphsync import logs
from graphsync_operator import metrics
from graphsync_operator.controller import command as operator
from graphsync_operator.controller.handlers.observation import observed
from graphsync_operator.kube import resource_of
from tests.metrics import value


def ready(status: str) -> dict[str, Any]:
    return {"type": "Ready", "status": status, "reason": "R", "lastTransitionTime": "2026-01-01T00:00:00Z"}


PIPELINE_STATUS = {
    "phase": "Running",
    "conditions": [ready("True")],
    "lastReconciliation": {
        "name": "nightly",
        "outcome": "repaired",
        "startedAt": "2026-01-01T00:00:00Z",
        "finishedAt": "2026-01-01T00:01:40Z",
        "missing": 3,
        "extra": 1,
        "different": 2,
        "repaired": 6,
    },
}
SEEN = [
    metrics.Seen("SyncPipeline", "shop", "orders", PIPELINE_STATUS),
    metrics.Seen("SyncPipeline", "shop", "people", {"phase": "Degraded", "conditions": [ready("False")]}),
    metrics.Seen("SyncPipeline", "shop", "fresh", {}),
    metrics.Seen("SyncPipeline", "other", "orders", {"phase": "Running", "conditions": [ready("True")]}),
    metrics.Seen("ConflictPolicy", "shop", "lww", {"conditions": [ready("True")]}),
]


def test_resources_are_counted_by_kind_phase_and_ready() -> None:
    assert metrics.census(SEEN) == {
        ("SyncPipeline", "Running", "True"): 2,
        ("SyncPipeline", "Degraded", "False"): 1,
        ("SyncPipeline", "", "Unknown"): 1,
        ("ConflictPolicy", "", "True"): 1,
    }


def test_the_newest_reconciliation_of_each_pipeline_is_exposed() -> None:
    collector = metrics.Cluster()
    collector.update(SEEN)
    text = generate_latest(collector).decode()
    differences = {
        outcome: value(text, "graphsync_reconciliation_differences", pipeline="orders", outcome=outcome)
        for outcome in ("missing", "extra", "different")
    }
    assert differences == {"missing": 3, "extra": 1, "different": 2}
    assert value(text, "graphsync_reconciliation_differences", pipeline_namespace="other") is None
    assert value(text, "graphsync_reconciliation_repaired", pipeline_namespace="shop", pipeline="orders") == 6
    assert value(text, "graphsync_reconciliation_last_run_timestamp_seconds") == 1767225700
    assert value(text, "graphsync_operator_resources", kind="SyncPipeline", phase="Running", ready="True") == 2


@pytest.mark.parametrize(
    ("path", "resource"),
    [
        ("/api/v1/namespaces/shop/events", "events"),
        ("/api/v1/namespaces/shop/secrets/db", "secrets"),
        ("/apis/graphsync.io/v1alpha1/namespaces/shop/syncpipelines/orders/status", "syncpipelines/status"),
        ("/apis/graphsync.io/v1alpha1/syncpipelines", "syncpipelines"),
        ("/apis/coordination.k8s.io/v1/namespaces/shop/leases/orders-sync-progress", "leases"),
    ],
)
def test_a_request_counts_against_its_resource_never_an_object_name(path: str, resource: str) -> None:
    assert resource_of(path) == resource


def runs(handler: str, outcome: str) -> float:
    found = metrics.REGISTRY.get_sample_value(
        "graphsync_operator_handler_runs_total", {"kind": "SyncPipeline", "handler": handler, "outcome": outcome}
    )
    return found or 0.0


def patches(outcome: str) -> float:
    found = metrics.REGISTRY.get_sample_value(
        "graphsync_operator_handler_status_patches_total", {"kind": "SyncPipeline", "outcome": outcome}
    )
    return found or 0.0


def written() -> float:
    found = metrics.REGISTRY.get_sample_value(
        "graphsync_operator_status_writes_total", {"kind": "SyncPipeline", "result": "written"}
    )
    return found or 0.0


BODY = {"metadata": {"namespace": "shop", "name": "orders"}}


def test_a_handler_run_is_counted_by_outcome_and_its_lines_name_the_resource() -> None:
    contexts: list[dict[str, str]] = []

    @observed("SyncPipeline")
    def handle(
        body: Any, patch: kopf.Patch, fail: BaseException | None = None, unchanged: bool = False, **_: Any
    ) -> None:
        contexts.append(logs.current())
        if not unchanged:
            patch.status["phase"] = "Running"
        if fail is not None:
            raise fail

    before = {o: runs("handle", o) for o in ("success", "retry", "permanent_error", "error")}
    before_patches = {o: patches(o) for o in before}
    writes = written()
    handle(body=BODY, patch=kopf.Patch())
    with pytest.raises(kopf.TemporaryError):
        handle(body=BODY, patch=kopf.Patch(), fail=kopf.TemporaryError("secret missing", delay=10))
    with pytest.raises(kopf.PermanentError):
        handle(body=BODY, patch=kopf.Patch(), fail=kopf.PermanentError("invalid"))
    with pytest.raises(KeyError):
        handle(body=BODY, patch=kopf.Patch(), fail=KeyError("spec"))
    after = {o: runs("handle", o) - before[o] for o in before}
    assert after == {"success": 1, "retry": 1, "permanent_error": 1, "error": 1}
    # The handlers changed the status four times, with their outcomes; the operator's client wrote nothing.
    assert {o: patches(o) - before_patches[o] for o in before} == {
        "success": 1,
        "retry": 1,
        "permanent_error": 1,
        "error": 1,
    }
    assert written() == writes
    handle(body=BODY, patch=kopf.Patch(), unchanged=True)
    assert patches("success") - before_patches["success"] == 1
    assert {(c["kind"], c["namespace"], c["name"]) for c in contexts} == {("SyncPipeline", "shop", "orders")}
    assert len({c["correlation_id"] for c in contexts}) == 5
    assert "correlation_id" not in logs.current()
    count = metrics.REGISTRY.get_sample_value(
        "graphsync_operator_handler_duration_seconds_count", {"kind": "SyncPipeline", "handler": "handle"}
    )
    assert count is not None
    assert count >= 4


def parse(*argv: str) -> argparse.Namespace:
    root = argparse.ArgumentParser()
    operator.register(root.add_subparsers())
    return root.parse_args(["run", *argv])


def test_metrics_are_served_on_8080_unless_told_and_0_turns_them_off() -> None:
    assert parse("-n", "shop").metrics_port == 8080
    assert parse("-n", "shop", "--metrics-port", "0").metrics_port == 0
    with pytest.raises(SystemExit):
        parse("--metrics-port", "http")


def test_the_operator_says_which_release_it_runs() -> None:
    text = generate_latest(metrics.REGISTRY).decode()
    assert value(text, "graphsync_build_info", version=graphsync.__version__, python=platform.python_version()) == 1
