"""The generated CRDs on the real API server: accepted, shown by kubectl, and refusing bad resources by field."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from graphsync_dev.kube import kubectl
from graphsync_dev.service import Service
from tests.resources import resource, shop_spec

pytestmark = pytest.mark.e2e


def apply(kube: Service, manifest: dict[str, Any]) -> tuple[int, str]:
    done = kubectl(kube.env, "apply", "-f", "-", input=json.dumps(manifest))
    return done.returncode, done.stdout + done.stderr


@pytest.fixture
def crds(graphsync_crds: None) -> None:
    return None


def refused(kube: Service, manifest: dict[str, Any], *fragments: str) -> None:
    code, out = apply(kube, manifest)
    assert code != 0, f"accepted: {manifest}"
    for fragment in fragments:
        assert fragment in out, out


def test_valid_resources_are_stored_with_defaults_and_listed(kube: Service, crds: None, namespace: str) -> None:
    pipeline = resource("SyncPipeline", "shop", namespace, {**shop_spec(), "workers": {}})
    policy = resource("ConflictPolicy", "careful", namespace, {"strategy": "manual", "clockSkewMs": 250})
    job = resource(
        "ReconciliationJob", "nightly", namespace, {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *"}
    )
    for manifest in (pipeline, policy, job):
        code, out = apply(kube, manifest)
        assert code == 0, out
    stored = json.loads(kubectl(kube.env, "get", "sp", "shop", "-n", namespace, "-o", "json").stdout)
    # Defaults the user left out are filled in by the API server, from the models' defaults.
    assert stored["spec"]["workers"] == {"replicas": 1, "logLevel": "info", "stuckAfterSeconds": 300}
    assert stored["spec"]["suspend"] is False
    assert stored["spec"]["transport"]["redisStreams"]["claimIdleSeconds"] == 30
    table = kubectl(kube.env, "get", "syncpipelines", "-n", namespace).stdout
    assert table.split("\n")[0].split() == ["NAME", "SOURCE", "TARGET", "MODE", "READY", "SYNCED", "LAG", "AGE"]
    assert table.split("\n")[1].split()[:2] == ["shop", "snapshotThenStream"]
    everything = kubectl(kube.env, "get", "graphsync", "-n", namespace, "-o", "name").stdout.split()
    assert sorted(everything) == [
        "conflictpolicy.graphsync.io/careful",
        "reconciliationjob.graphsync.io/nightly",
        "syncpipeline.graphsync.io/shop",
    ]
    rj = kubectl(kube.env, "get", "rj", "-n", namespace).stdout
    assert rj.split("\n")[1].split()[:5] == ["nightly", "shop", "report", "0", "3"]


def test_invalid_pipelines_are_refused_naming_the_field(kube: Service, crds: None, namespace: str) -> None:
    good = resource("SyncPipeline", "shop", namespace, shop_spec())

    bad = copy.deepcopy(good)
    bad["spec"]["mode"] = "sometimes"
    bad["spec"]["mappings"]["nodes"][0]["labels"][0] = "Bad-Label"
    bad["spec"]["workers"] = {"replicas": -1}
    refused(
        kube,
        bad,
        'spec.mode: Unsupported value: "sometimes"',
        "spec.mappings.nodes[0].labels[0] in body should match",
        "spec.workers.replicas: Invalid value: -1: spec.workers.replicas in body should be greater than or equal to 0",
    )

    two_sources = copy.deepcopy(good)
    two_sources["spec"]["source"]["files"] = {"directory": "/data"}
    refused(kube, two_sources, "spec.source: Invalid value", "choose exactly one source kind")

    unscheduled = copy.deepcopy(good)
    unscheduled["spec"]["mode"] = "snapshot"
    del unscheduled["spec"]["transport"]
    refused(kube, unscheduled, "spec.schedule", "modes snapshot and differential run once per schedule")

    bad_cron = copy.deepcopy(unscheduled)
    bad_cron["spec"]["schedule"] = "every night"
    refused(kube, bad_cron, "spec.schedule in body should match")

    long_name = copy.deepcopy(good)
    long_name["metadata"]["name"] = "x" * 41
    refused(kube, long_name, "metadata.name: at most 40 characters")

    # A password inside a URL would be rendered into the worker's ConfigMap: refused, naming the field.
    for path, url in (
        ("source.postgres.url", "postgresql://app:hunter2@db:5432/shop"),
        ("source.postgres.url", "postgresql://app@db:5432/shop?password=hunter2"),
        ("transport.redisStreams.url", "redis://:hunter2@redis:6379/0"),
        ("target.neo4j.uri", "bolt://neo4j:hunter2@graph:7687"),
    ):
        leaked = copy.deepcopy(good)
        *parents, last = path.split(".")
        node = leaked["spec"]
        for part in parents:
            node = node[part]
        node[last] = url
        refused(kube, leaked, f"spec.{path}: Invalid value", "holds a password", "secretKeyRef")

    # A policy on a pipeline that is not bidirectional passed once, then the handler failed for ever.
    misplaced = copy.deepcopy(good)
    misplaced["spec"]["conflictPolicyRef"] = {"name": "careful"}
    refused(kube, misplaced, "spec.conflictPolicyRef", "conflictPolicyRef applies to mode bidirectional")

    secret_inline = copy.deepcopy(good)
    secret_inline["spec"]["source"]["postgres"]["password"] = {"value": "hunter2"}
    refused(kube, secret_inline, 'unknown field "spec.source.postgres.password.value"')


def test_immutable_fields_are_refused_on_update(kube: Service, crds: None, namespace: str) -> None:
    pipeline = resource("SyncPipeline", "shop", namespace, shop_spec())
    code, out = apply(kube, pipeline)
    assert code == 0, out
    moved = copy.deepcopy(pipeline)
    moved["spec"]["source"]["postgres"]["schema"] = "elsewhere"
    moved["spec"]["transport"]["redisStreams"]["partitions"] = 8
    refused(kube, moved, "spec.source.postgres.schema: Invalid value", "schema is immutable", "partitions is immutable")
    retargeted = copy.deepcopy(pipeline)
    retargeted["spec"]["target"] = {"falkordb": {"url": "redis://falkor:6379", "graph": "shop"}}
    refused(kube, retargeted, "the target kind is immutable")
    batch = copy.deepcopy(pipeline)
    batch["spec"]["batchSize"] = 1000
    code, out = apply(kube, batch)
    assert code == 0, out


def test_invalid_jobs_and_policies_are_refused(kube: Service, crds: None, namespace: str) -> None:
    refused(
        kube,
        resource("ReconciliationJob", "nightly", namespace, {"schedule": "0 3 * * *"}),
        "spec.pipelineRef: Required value",
    )
    refused(
        kube,
        resource(
            "ReconciliationJob",
            "nightly",
            namespace,
            {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *", "scope": {"ids": [1]}},
        ),
        "spec.scope: Invalid value",
        "ids: name their entity types in entities",
    )
    refused(
        kube,
        resource("ConflictPolicy", "p", namespace, {"strategy": "sometimes", "clockSkewMs": -1}),
        'spec.strategy: Unsupported value: "sometimes"',
        "spec.clockSkewMs",
    )
    refused(
        kube,
        resource("ConflictPolicy", "p", namespace, {"strategy": "sourceWins", "merge": {"default": "max"}}),
        "merge rules apply to strategy merge",
    )
    job = resource("ReconciliationJob", "nightly", namespace, {"pipelineRef": {"name": "shop"}, "schedule": "@daily"})
    code, out = apply(kube, job)
    assert code == 0, out
    job["spec"]["pipelineRef"]["name"] = "other"
    refused(kube, job, "pipelineRef is immutable")


def test_kubectl_scale_sets_the_workers_where_the_mode_shares_work(kube: Service, crds: None, namespace: str) -> None:
    spec = {k: v for k, v in shop_spec().items() if k != "workers"}
    code, out = apply(kube, resource("SyncPipeline", "scaled", namespace, spec))
    assert code == 0, out

    def scale() -> dict[str, Any]:
        got = kubectl(kube.env, "get", "sp", "scaled", "-n", namespace, "--subresource=scale", "-o", "json")
        assert got.returncode == 0, got.stderr
        return dict(json.loads(got.stdout))

    # workers defaults as a whole, so the scale subresource has replicas to read from the start.
    assert scale()["spec"]["replicas"] == 1
    done = kubectl(kube.env, "scale", "sp", "scaled", "-n", namespace, "--replicas=3")
    assert done.returncode == 0, done.stderr
    assert scale()["spec"]["replicas"] == 3
    stored = json.loads(kubectl(kube.env, "get", "sp", "scaled", "-n", namespace, "-o", "json").stdout)
    assert stored["spec"]["workers"]["replicas"] == 3

    # A mode with one writer: the same rule that refuses replicas > 1 in the spec refuses the scale.
    one_writer = {**spec, "mode": "snapshot", "schedule": "0 3 * * *"}
    del one_writer["transport"]
    code, out = apply(kube, resource("SyncPipeline", "single", namespace, one_writer))
    assert code == 0, out
    refused_scale = kubectl(kube.env, "scale", "sp", "single", "-n", namespace, "--replicas=2")
    assert refused_scale.returncode != 0
    assert "workers.replicas: this mode runs one writer, so at most 1 replica" in refused_scale.stderr


def test_kubectl_explain_says_what_each_field_is(kube: Service, crds: None) -> None:
    def explain(field: str) -> str:
        done = kubectl(kube.env, "explain", field)
        assert done.returncode == 0, done.stderr
        return str(done.stdout)

    assert "Keeps a graph database" in explain("syncpipeline")
    assert "the scale subresource's replicas" in explain("syncpipeline.status.readyWorkers")
    assert "the restricted Pod Security Standard allows" in explain("syncpipeline.spec.workers.volumes")
    assert "the newest run" in explain("reconciliationjob.status.lastRun")
    assert "Who wins when both sides" in explain("conflictpolicy.spec")
