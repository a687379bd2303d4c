"""All the children of a pipeline or a reconciliation job, and how they roll on a change (no servers)."""

from __future__ import annotations

import re

import yaml

from graphsync_operator.api.specs import ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.build import children
from graphsync_operator.build.names import Owner
from tests.resources import shop_spec
from tests.unit.builders_data import DEFAULTS, HASH, OWNER, PG_ENV, build, config_hash, one, reconcile_job

# --- what a pipeline owns ----------------------------------------------------------------------------------


def test_a_continuous_pipeline_owns_exactly_its_config_access_worker_and_metrics() -> None:
    built = build()
    assert sorted((m["kind"], m["metadata"]["name"]) for m in built.manifests) == sorted(
        [
            ("ConfigMap", "shop-pipeline"),
            ("ServiceAccount", "shop-sync"),
            ("Role", "shop-sync"),
            ("RoleBinding", "shop-sync"),
            ("Lease", "shop-sync-progress"),
            ("Deployment", "shop-worker"),
            ("Service", "shop-metrics"),
        ]
    )
    assert built.obsolete == [("batch/v1", "CronJob", "shop-sync")]


def test_every_child_is_owned_by_the_resource_in_its_namespace() -> None:
    for manifest in build().manifests:
        meta = manifest["metadata"]
        assert meta["namespace"] == "team-a", manifest["kind"]
        assert meta["ownerReferences"] == [
            {
                "apiVersion": "graphsync.io/v1alpha1",
                "kind": "SyncPipeline",
                "name": "shop",
                "uid": OWNER.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ], manifest["kind"]
        assert meta["labels"]["graphsync.io/pipeline"] == "shop"
        assert meta["labels"]["app.kubernetes.io/managed-by"] == "graphsync-operator"


def test_the_api_versions_are_the_ones_the_cluster_serves() -> None:
    versions = {m["kind"]: m["apiVersion"] for m in build().manifests}
    assert versions == {
        "ConfigMap": "v1",
        "ServiceAccount": "v1",
        "Role": "rbac.authorization.k8s.io/v1",
        "RoleBinding": "rbac.authorization.k8s.io/v1",
        "Lease": "coordination.k8s.io/v1",
        "Deployment": "apps/v1",
        "Service": "v1",
    }


def test_the_deployment_selects_its_own_pods_and_the_service_scrapes_them() -> None:
    built = build()
    deployment = one(built, "Deployment")
    selector = deployment["spec"]["selector"]["matchLabels"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    service = one(built, "Service")
    assert service["spec"]["selector"] == selector
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "http", "protocol": "TCP"}]


# --- idempotency and rolling -------------------------------------------------------------------------------


def test_building_twice_gives_the_same_manifests() -> None:
    first, second = build(), build()
    assert first.manifests == second.manifests
    assert first.obsolete == second.obsolete
    assert first.rendered.hash == second.rendered.hash


def test_the_config_map_and_the_pod_template_carry_the_same_hash() -> None:
    built = build()
    assert one(built, "ConfigMap")["metadata"]["annotations"][HASH] == built.rendered.hash
    assert config_hash(built) == built.rendered.hash
    assert re.fullmatch(r"[0-9a-f]{16}", built.rendered.hash)


def test_a_config_change_rolls_the_workers() -> None:
    before, after = build(), build({**shop_spec(), "batchSize": 300})
    assert config_hash(before) != config_hash(after)
    before_cm, after_cm = one(before, "ConfigMap"), one(after, "ConfigMap")
    assert before_cm["data"] != after_cm["data"]
    assert yaml.safe_load(after_cm["data"]["pipeline.yaml"])["batchSize"] == 300


def test_scaling_does_not_roll_the_workers() -> None:
    before, after = build(), build({**shop_spec(), "workers": {"replicas": 3}})
    assert one(after, "Deployment")["spec"]["replicas"] == 3
    assert config_hash(before) == config_hash(after)
    assert one(before, "ConfigMap") == one(after, "ConfigMap")


def test_suspending_scales_to_zero_without_rolling() -> None:
    before = build({**shop_spec(), "workers": {"replicas": 2}})
    after = build({**shop_spec(), "workers": {"replicas": 2}, "suspend": True})
    assert one(before, "Deployment")["spec"]["replicas"] == 2
    assert one(after, "Deployment")["spec"]["replicas"] == 0
    assert config_hash(before) == config_hash(after)
    assert one(before, "ConfigMap") == one(after, "ConfigMap")


def test_the_resource_name_names_the_engine_pipeline() -> None:
    other = Owner(kind="SyncPipeline", name="shop-b", namespace="team-a", uid="u-2")
    built = build(owner=other)
    assert yaml.safe_load(one(built, "ConfigMap")["data"]["pipeline.yaml"])["name"] == "shop-b"
    assert config_hash(built) != config_hash(build())
    assert {m["metadata"]["name"] for m in built.manifests} == {
        "shop-b-pipeline",
        "shop-b-sync",
        "shop-b-sync-progress",
        "shop-b-worker",
        "shop-b-metrics",
    }


# --- reconciliation jobs -----------------------------------------------------------------------------------

JOB_OWNER = Owner(kind="ReconciliationJob", name="nightly", namespace="team-a", uid="u-job")


def build_reconciliation(job: ReconciliationJobSpec | None = None) -> children.Children:
    return children.reconciliation(
        JOB_OWNER, job or reconcile_job(), SyncPipelineSpec.model_validate(shop_spec()), DEFAULTS
    )


def test_a_reconciliation_job_owns_its_cronjob_and_access() -> None:
    built = build_reconciliation()
    assert sorted((m["kind"], m["metadata"]["name"]) for m in built.manifests) == sorted(
        [
            ("ServiceAccount", "nightly-reconcile"),
            ("Role", "nightly-reconcile"),
            ("RoleBinding", "nightly-reconcile"),
            ("Lease", "nightly-reconcile-progress"),
            ("CronJob", "nightly-reconcile"),
        ]
    )
    assert built.obsolete == []
    for manifest in built.manifests:
        assert manifest["metadata"]["ownerReferences"][0]["kind"] == "ReconciliationJob"
        assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u-job"
        assert manifest["metadata"]["namespace"] == "team-a"
        assert manifest["metadata"]["labels"]["graphsync.io/pipeline"] == "shop"
        assert manifest["metadata"]["labels"]["app.kubernetes.io/instance"] == "nightly"
    role = one(built, "Role")
    assert role["rules"][0]["resourceNames"] == ["nightly-reconcile-progress"]


def test_the_reconciliation_cronjob_runs_on_the_pipelines_config() -> None:
    built = build_reconciliation()
    cron = one(built, "CronJob")
    assert cron["spec"]["schedule"] == "0 3 * * *"
    assert cron["spec"]["suspend"] is False
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    assert pod["spec"]["serviceAccountName"] == "nightly-reconcile"
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["config"] == {"name": "config", "configMap": {"name": "shop-pipeline"}}
    [worker] = pod["spec"]["containers"]
    assert worker["args"] == [
        "worker",
        "reconcile",
        "-f",
        "/etc/graphsync/pipeline.yaml",
        "--repair",
        "--entity",
        "customer",
        "--id",
        "1",
        "--id",
        "abc",
        "--buckets",
        "1024",
        "--batch-size",
        "2000",
        "--samples",
        "10",
    ]
    assert worker["args"][1:] == ["reconcile", *children.reconcile_args(reconcile_job())]
    assert "livenessProbe" not in worker
    env = {var["name"]: var for var in worker["env"]}
    assert env["GRAPHSYNC_LEASE"]["value"] == "nightly-reconcile-progress"
    # The pipeline's secrets, as the pipeline's own workers get them.
    assert env[PG_ENV]["valueFrom"] == {"secretKeyRef": {"name": "shop-db", "key": "pg-password"}}
    # Same config, same hash as the pipeline's ConfigMap: the pod mounts that one.
    assert pod["metadata"]["annotations"][HASH] == one(build(), "ConfigMap")["metadata"]["annotations"][HASH]


def test_reconcile_args_of_a_report_over_everything() -> None:
    job = ReconciliationJobSpec.model_validate(
        {"pipelineRef": {"name": "shop"}, "schedule": "@daily", "bucketCount": 64, "batchSize": 10, "samples": 0}
    )
    assert children.reconcile_args(job) == [
        "-f",
        "/etc/graphsync/pipeline.yaml",
        "--buckets",
        "64",
        "--batch-size",
        "10",
        "--samples",
        "0",
    ]


def test_a_suspended_reconciliation_job_suspends_its_cronjob() -> None:
    cron = one(build_reconciliation(reconcile_job(suspend=True)), "CronJob")
    assert cron["spec"]["suspend"] is True
