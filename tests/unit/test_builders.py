"""The operator's pure builders: the manifests a resource owns, as the cluster and its users see them (no servers)."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import yaml

from graphsync.spec.pipeline import PipelineSpec
from graphsync_operator.api import ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.build import children, config, workloads
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from tests.resources import shop_spec

OWNER = Owner(kind="SyncPipeline", name="shop", namespace="team-a", uid="0f6c1a52-9d7e-4e0b-8a43-5b1c2d3e4f50")
DEFAULTS = Defaults(image="img:1")
HASH = "graphsync.io/config-hash"
PG_ENV = "GRAPHSYNC_SECRET_SOURCE_POSTGRES_PASSWORD"
NEO4J_ENV = "GRAPHSYNC_SECRET_TARGET_NEO4J_PASSWORD"
REDIS_ENV = "GRAPHSYNC_SECRET_TRANSPORT_REDISSTREAMS_PASSWORD"


def build(spec: dict[str, Any] | None = None, owner: Owner = OWNER) -> children.Children:
    return children.pipeline(owner, SyncPipelineSpec.model_validate(spec or shop_spec()), DEFAULTS)


def scheduled_spec(**extra: Any) -> dict[str, Any]:
    spec = shop_spec()
    del spec["transport"]
    return {**spec, "mode": "snapshot", "schedule": "0 * * * *", **extra}


def one(built: children.Children, kind: str) -> dict[str, Any]:
    [found] = [m for m in built.manifests if m["kind"] == kind]
    return found


def pod_spec(built: children.Children) -> dict[str, Any]:
    spec: dict[str, Any] = template(built)["spec"]
    return spec


def template(built: children.Children) -> dict[str, Any]:
    kinds = {m["kind"] for m in built.manifests}
    if "Deployment" in kinds:
        found: dict[str, Any] = one(built, "Deployment")["spec"]["template"]
    else:
        found = one(built, "CronJob")["spec"]["jobTemplate"]["spec"]["template"]
    return found


def container(built: children.Children) -> dict[str, Any]:
    [found] = pod_spec(built)["containers"]
    assert isinstance(found, dict)
    return found


def env_of(built: children.Children) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in container(built)["env"]}


def config_hash(built: children.Children) -> str:
    found = template(built)["metadata"]["annotations"][HASH]
    assert isinstance(found, str)
    return found


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


# --- secrets -----------------------------------------------------------------------------------------------


def test_the_config_map_names_env_vars_instead_of_secrets() -> None:
    built = build()
    document = one(built, "ConfigMap")["data"]["pipeline.yaml"]
    assert "secretKeyRef" not in document
    assert "pg-password" not in document
    assert "neo4j-password" not in document
    engine = yaml.safe_load(document)
    assert engine["name"] == "shop"
    assert engine["batchSize"] == 200
    assert engine["source"]["postgres"]["password"] == {"env": PG_ENV}
    assert engine["target"]["neo4j"]["password"] == {"env": NEO4J_ENV}
    assert "workers" not in engine
    assert "schedule" not in engine


def test_the_worker_gets_each_secret_from_its_secret_key() -> None:
    env = env_of(build())
    assert env[PG_ENV] == {"name": PG_ENV, "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "pg-password"}}}
    assert env[NEO4J_ENV] == {
        "name": NEO4J_ENV,
        "valueFrom": {"secretKeyRef": {"name": "shop-db", "key": "neo4j-password"}},
    }
    # Secrets arrive through valueFrom only: nothing a secret could be written into.
    for name in (PG_ENV, NEO4J_ENV):
        assert "value" not in env[name]


def test_the_rendered_config_can_be_read_back_by_the_engine() -> None:
    document = one(build(), "ConfigMap")["data"]["pipeline.yaml"]
    engine = PipelineSpec.model_validate(yaml.safe_load(document))
    assert engine.name == "shop"
    assert engine.postgres.password is not None
    assert engine.postgres.password.env == PG_ENV


def test_no_secret_value_appears_in_any_manifest() -> None:
    # The operator never reads Secrets' data; a password-looking literal must never appear in a child.
    text = json.dumps(build().manifests)
    assert "secretKeyRef" in text  # the env vars reference them ...
    assert not re.search(r'"value":\s*"[^"]*password', text, re.IGNORECASE)  # ... no plain value holds one
    assert '"kind": "Secret"' not in text


def test_a_pipeline_without_secrets_has_no_secret_env() -> None:
    spec = shop_spec(neo4j_password=False)
    del spec["source"]["postgres"]["password"]
    built = build(spec)
    assert built.rendered.secrets == ()
    assert not [name for name in env_of(built) if name.startswith("GRAPHSYNC_SECRET_")]


# --- pod security, probes, volumes -------------------------------------------------------------------------


def test_the_worker_runs_unprivileged_on_a_read_only_root() -> None:
    built = build()
    pod = pod_spec(built)["securityContext"]
    assert pod["runAsNonRoot"] is True
    assert pod["runAsUser"] == 65532
    assert pod["runAsGroup"] == 65532
    assert pod["fsGroup"] == 65532
    assert pod["seccompProfile"] == {"type": "RuntimeDefault"}
    own = container(built)["securityContext"]
    assert own["runAsNonRoot"] is True
    assert own["readOnlyRootFilesystem"] is True
    assert own["allowPrivilegeEscalation"] is False
    assert own["capabilities"] == {"drop": ["ALL"]}
    assert "privileged" not in own


def test_the_worker_is_probed_on_its_http_port() -> None:
    worker = container(build())
    assert worker["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    env = env_of(build())
    assert env["GRAPHSYNC_HTTP_PORT"]["value"] == "8080"


def test_the_worker_runs_the_rendered_config() -> None:
    worker = container(build())
    assert worker["image"] == "img:1"
    assert worker["imagePullPolicy"] == "IfNotPresent"
    assert worker["command"] == ["graphsync-operator"]
    assert worker["args"] == ["worker", "sync", "-f", "/etc/graphsync/pipeline.yaml"]
    env = env_of(build())
    assert env["GRAPHSYNC_LEASE"]["value"] == "shop-sync-progress"
    assert env["POD_NAME"]["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["GRAPHSYNC_HEARTBEAT_SECONDS"]["value"] == "10"


def test_the_config_map_is_mounted_read_only_and_only_emptydirs_are_writable() -> None:
    built = build()
    volumes = {v["name"]: v for v in pod_spec(built)["volumes"]}
    assert volumes == {
        "config": {"name": "config", "configMap": {"name": "shop-pipeline"}},
        "cache": {"name": "cache", "emptyDir": {}},
        "tmp": {"name": "tmp", "emptyDir": {}},
    }
    mounts = {m["mountPath"]: m for m in container(built)["volumeMounts"]}
    assert mounts["/etc/graphsync"] == {"name": "config", "mountPath": "/etc/graphsync", "readOnly": True}
    assert mounts["/tmp"]["name"] == "tmp"
    assert mounts["/var/cache/graphsync"]["name"] == "cache"
    assert env_of(built)["GRAPHSYNC_CACHE_DIR"]["value"] == "/var/cache/graphsync"
    # The file the worker is told to read is in the mounted ConfigMap.
    assert "pipeline.yaml" in one(built, "ConfigMap")["data"]


def test_the_pods_run_as_the_pipelines_own_service_account() -> None:
    assert pod_spec(build())["serviceAccountName"] == "shop-sync"


# --- access: each pipeline's workers may report on their own Lease, nothing else ----------------------------


def test_the_role_allows_only_reporting_on_its_own_lease() -> None:
    role = one(build(), "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": ["shop-sync-progress"],
            "verbs": ["get", "patch"],
        }
    ]


def test_the_role_binding_binds_the_service_account_of_its_namespace() -> None:
    binding = one(build(), "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "shop-sync"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "shop-sync", "namespace": "team-a"}]


def test_the_lease_is_created_empty_for_the_workers_to_annotate() -> None:
    lease = one(build(), "Lease")
    assert lease["spec"] == {}
    assert "annotations" not in lease["metadata"]


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


# --- workers overrides -------------------------------------------------------------------------------------


def test_default_resources_when_unset() -> None:
    assert container(build())["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "1Gi"},
    }


def test_workers_overrides_reach_the_pod() -> None:
    workers = {
        "image": "registry.example/graphsync:2.0",
        "imagePullPolicy": "Always",
        "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
        "nodeSelector": {"kubernetes.io/arch": "arm64"},
        "tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "graphsync", "effect": "NoSchedule"},
            {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
        ],
    }
    built = build({**shop_spec(), "workers": workers})
    worker = container(built)
    assert worker["image"] == "registry.example/graphsync:2.0"
    assert worker["imagePullPolicy"] == "Always"
    assert worker["resources"] == {
        "requests": {"cpu": "250m", "memory": "512Mi"},
        "limits": {"cpu": "1", "memory": "2Gi"},
    }
    spec = pod_spec(built)
    assert spec["nodeSelector"] == {"kubernetes.io/arch": "arm64"}
    assert spec["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "graphsync", "effect": "NoSchedule"},
        {"operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 30},
    ]


def test_an_integer_quantity_is_a_valid_resource() -> None:
    # The CRD declares quantities x-kubernetes-int-or-string, so the API server accepts `cpu: 1`.
    built = build({**shop_spec(), "workers": {"resources": {"limits": {"cpu": 1, "memory": "2Gi"}}}})
    assert container(built)["resources"]["limits"] == {"cpu": 1, "memory": "2Gi"}


def test_resources_with_requests_only() -> None:
    built = build({**shop_spec(), "workers": {"resources": {"requests": {"cpu": "50m"}}}})
    assert container(built)["resources"]["requests"] == {"cpu": "50m"}


def test_no_node_selector_or_tolerations_unless_asked() -> None:
    spec = pod_spec(build())
    assert "nodeSelector" not in spec
    assert "tolerations" not in spec


def test_the_operators_defaults_apply_when_workers_do_not_override() -> None:
    defaults = Defaults(image="img:7", pull_policy="Never", heartbeat_seconds=2.5)
    built = children.pipeline(OWNER, SyncPipelineSpec.model_validate(shop_spec()), defaults)
    worker = container(built)
    assert worker["image"] == "img:7"
    assert worker["imagePullPolicy"] == "Never"
    assert env_of(built)["GRAPHSYNC_HEARTBEAT_SECONDS"]["value"] == "2.5"


# --- scheduled pipelines -----------------------------------------------------------------------------------


def test_a_scheduled_pipeline_runs_as_a_cronjob() -> None:
    built = build(scheduled_spec())
    kinds = {(m["kind"], m["metadata"]["name"]) for m in built.manifests}
    assert ("CronJob", "shop-sync") in kinds
    assert not {kind for kind, _ in kinds} & {"Deployment", "Service"}
    assert ("apps/v1", "Deployment", "shop-worker") in built.obsolete
    assert ("batch/v1", "CronJob", "shop-sync") not in built.obsolete
    cron = one(built, "CronJob")
    assert cron["apiVersion"] == "batch/v1"
    assert cron["spec"]["schedule"] == "0 * * * *"
    assert cron["spec"]["suspend"] is False
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["spec"]["restartPolicy"] == "Never"
    worker = container(built)
    assert worker["args"][-1] == "--until-idle"
    assert worker["args"] == ["worker", "sync", "-f", "/etc/graphsync/pipeline.yaml", "--until-idle"]
    assert "livenessProbe" not in worker
    assert "readinessProbe" not in worker
    # Same security and config as a continuous worker.
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["metadata"]["annotations"][HASH] == built.rendered.hash
    assert pod["spec"]["serviceAccountName"] == "shop-sync"


def test_a_suspended_schedule_suspends_the_cronjob_without_rolling() -> None:
    running, suspended = build(scheduled_spec()), build(scheduled_spec(suspend=True))
    assert one(suspended, "CronJob")["spec"]["suspend"] is True
    assert config_hash(running) == config_hash(suspended)


def test_a_scheduled_pipeline_keeps_its_config_and_access() -> None:
    built = build(scheduled_spec())
    names = {(m["kind"], m["metadata"]["name"]) for m in built.manifests}
    assert {
        ("ConfigMap", "shop-pipeline"),
        ("ServiceAccount", "shop-sync"),
        ("Role", "shop-sync"),
        ("RoleBinding", "shop-sync"),
        ("Lease", "shop-sync-progress"),
    } <= names
    assert yaml.safe_load(one(built, "ConfigMap")["data"]["pipeline.yaml"])["mode"] == "snapshot"


# --- reconciliation jobs -----------------------------------------------------------------------------------

JOB_OWNER = Owner(kind="ReconciliationJob", name="nightly", namespace="team-a", uid="u-job")


def reconcile_job(**extra: Any) -> ReconciliationJobSpec:
    return ReconciliationJobSpec.model_validate(
        {
            "pipelineRef": {"name": "shop"},
            "schedule": "0 3 * * *",
            "action": "repair",
            "scope": {"entities": ["customer"], "ids": [1, "abc"]},
            **extra,
        }
    )


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


# --- run now -----------------------------------------------------------------------------------------------


def test_run_now_makes_a_job_from_the_cronjob() -> None:
    cron = one(build(scheduled_spec()), "CronJob")
    job = workloads.job_now(cron, OWNER, "2024-05-01T10:00:00Z")
    assert job["apiVersion"] == "batch/v1"
    assert job["kind"] == "Job"
    assert re.fullmatch(r"shop-sync-now-[0-9a-f]{8}", job["metadata"]["name"])
    assert job["metadata"]["namespace"] == "team-a"
    assert job["metadata"]["ownerReferences"][0]["uid"] == OWNER.uid
    assert job["metadata"]["annotations"]["cronjob.kubernetes.io/instantiate"] == "manual"
    assert job["metadata"]["annotations"]["graphsync.io/request"] == "2024-05-01T10:00:00Z"
    assert job["metadata"]["labels"] == cron["spec"]["jobTemplate"]["metadata"]["labels"]
    assert job["spec"] == cron["spec"]["jobTemplate"]["spec"]


def test_run_now_names_are_deterministic_per_request() -> None:
    cron = one(build(scheduled_spec()), "CronJob")
    first = workloads.job_now(cron, OWNER, "request-1")
    again = workloads.job_now(copy.deepcopy(cron), OWNER, "request-1")
    other = workloads.job_now(cron, OWNER, "request-2")
    assert first == again
    assert first["metadata"]["name"] != other["metadata"]["name"]


@pytest.mark.parametrize("kind", ["pipeline", "reconciliation"])
def test_run_now_names_fit_a_label_for_the_longest_resource_name(kind: str) -> None:
    name = "a" * 40
    if kind == "pipeline":
        owner = Owner(kind="SyncPipeline", name=name, namespace="team-a", uid="u")
        cron = one(build(scheduled_spec(), owner=owner), "CronJob")
    else:
        owner = Owner(kind="ReconciliationJob", name=name, namespace="team-a", uid="u")
        job = reconcile_job()
        cron = one(
            children.reconciliation(owner, job, SyncPipelineSpec.model_validate(shop_spec()), DEFAULTS), "CronJob"
        )
    # A CronJob's name may hold at most 52 characters (it appends 11 to name its Jobs).
    assert len(cron["metadata"]["name"]) <= 52
    made = workloads.job_now(cron, owner, "x" * 200)
    assert len(made["metadata"]["name"]) <= 63
    assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", made["metadata"]["name"])


def test_every_child_name_fits_for_the_longest_resource_name() -> None:
    owner = Owner(kind="SyncPipeline", name="a" * 40, namespace="team-a", uid="u")
    for built in (build(owner=owner), build(scheduled_spec(), owner=owner)):
        for manifest in built.manifests:
            assert len(manifest["metadata"]["name"]) <= 63, manifest["kind"]
            for value in manifest["metadata"]["labels"].values():
                assert len(value) <= 63


# --- config.render -----------------------------------------------------------------------------------------


def with_redis_password(spec: dict[str, Any], secret: str = "shop-redis", key: str = "password") -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    spec["transport"]["redisStreams"]["password"] = {"secretKeyRef": {"name": secret, "key": key}}
    return spec


def render(spec: dict[str, Any]) -> config.Rendered:
    return config.render(SyncPipelineSpec.model_validate(spec).engine_spec("shop"))


def test_refs_in_source_transport_and_target_each_get_their_own_env_var() -> None:
    rendered = render(with_redis_password(shop_spec()))
    uses = {use.env: use for use in rendered.secrets}
    assert set(uses) == {PG_ENV, REDIS_ENV, NEO4J_ENV}
    assert len(rendered.secrets) == 3
    assert uses[REDIS_ENV].secret == "shop-redis"
    assert uses[REDIS_ENV].key == "password"
    assert uses[REDIS_ENV].field == "spec.transport.redisStreams.password.secretKeyRef"
    assert uses[PG_ENV].field == "spec.source.postgres.password.secretKeyRef"
    assert uses[NEO4J_ENV].field == "spec.target.neo4j.password.secretKeyRef"
    document = yaml.safe_load(rendered.document)
    assert document["transport"]["redisStreams"]["password"] == {"env": REDIS_ENV}
    assert "secretKeyRef" not in rendered.document


def test_env_var_names_are_valid_for_a_container() -> None:
    for use in render(with_redis_password(shop_spec())).secrets:
        assert re.fullmatch(r"[A-Z_][A-Z0-9_]*", use.env), use.env


def test_a_plain_env_reference_is_kept_as_it_is() -> None:
    spec = shop_spec()
    spec["source"]["postgres"]["password"] = {"env": "PGPASSWORD"}
    rendered = render(spec)
    assert [use.env for use in rendered.secrets] == [NEO4J_ENV]
    assert yaml.safe_load(rendered.document)["source"]["postgres"]["password"] == {"env": "PGPASSWORD"}


@pytest.mark.parametrize(
    ("secret", "key"),
    [("shop-redis-2", "password"), ("shop-redis", "other-key")],
)
def test_the_hash_follows_where_a_secret_comes_from(secret: str, key: str) -> None:
    before = render(with_redis_password(shop_spec()))
    after = render(with_redis_password(shop_spec(), secret=secret, key=key))
    # The document only names the env var, yet the pods must roll onto the other Secret.
    assert before.document == after.document
    assert before.hash != after.hash


def test_the_hash_is_stable_and_follows_the_document() -> None:
    assert render(shop_spec()).hash == render(shop_spec()).hash
    assert render(shop_spec()).hash != render({**shop_spec(), "batchSize": 201}).hash


def test_config_map_carries_the_document_and_hash() -> None:
    rendered = render(shop_spec())
    made = config.config_map(OWNER, rendered)
    assert made["metadata"]["name"] == "shop-pipeline"
    assert made["metadata"]["annotations"] == {HASH: rendered.hash}
    assert made["data"] == {"pipeline.yaml": rendered.document}
