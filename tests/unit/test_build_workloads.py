"""The worker pods and what runs them: Deployment, CronJob and run-now Job, as the cluster runs them (no servers)."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from graphsync_operator.api.crds import closed_schema
from graphsync_operator.api.pods import Placement
from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.api.structural import structural
from graphsync_operator.build import children, workloads
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from graphsync_operator.controller.handlers import settings
from graphsync_operator.controller.handlers.specs import Invalid, parse_spec
from tests.resources import resource, shop_spec
from tests.unit.builders_data import (
    DEFAULTS,
    HASH,
    OWNER,
    build,
    config_hash,
    container,
    env_of,
    one,
    pod_spec,
    reconcile_job,
    scheduled_spec,
)

CHART = Path(__file__).parents[2] / "charts" / "graphsync"

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
    assert env["GRAPHSYNC_LOG_FORMAT"] == {"name": "GRAPHSYNC_LOG_FORMAT", "value": "json"}
    assert env["GRAPHSYNC_LOG_LEVEL"]["value"] == "info"


def test_the_workers_log_at_the_level_the_pipeline_names() -> None:
    spec = shop_spec()
    spec["workers"] = {"logLevel": "debug"}
    assert env_of(build(spec))["GRAPHSYNC_LOG_LEVEL"]["value"] == "debug"
    assert env_of(build(scheduled_spec(workers={"logLevel": "error"})))["GRAPHSYNC_LOG_LEVEL"]["value"] == "error"


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


def test_worker_pods_take_the_clusters_options_from_the_spec() -> None:
    spec = shop_spec()
    spec["workers"] = {
        "imagePullSecrets": ["registry-cred"],
        "priorityClassName": "data-plane",
        "podLabels": {"team": "data", "example.com/cost-center": "cc-42"},
        "podAnnotations": {"sidecar.istio.io/inject": "false"},
        "env": [{"name": "HTTPS_PROXY", "value": "http://proxy.example:3128"}],
    }
    template = one(build(spec), "Deployment")["spec"]["template"]
    pod = template["spec"]
    assert pod["imagePullSecrets"] == [{"name": "registry-cred"}]
    assert pod["priorityClassName"] == "data-plane"
    labels = template["metadata"]["labels"]
    assert (labels["team"], labels["example.com/cost-center"]) == ("data", "cc-42")
    assert labels["app.kubernetes.io/component"] == "sync"  # the operator's own stay
    assert template["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    assert HASH in template["metadata"]["annotations"]
    assert env_of(build(spec))["HTTPS_PROXY"]["value"] == "http://proxy.example:3128"
    plain = one(build(), "Deployment")["spec"]["template"]["spec"]
    assert "imagePullSecrets" not in plain
    assert "priorityClassName" not in plain


@pytest.mark.parametrize(
    ("workers", "said"),
    [
        ({"podLabels": {"app.kubernetes.io/name": "x"}}, "podLabels: 'app.kubernetes.io/name' is set by the operator"),
        ({"podLabels": {"bad key!": "x"}}, "podLabels: 'bad key!' is not a label or annotation key"),
        ({"podLabels": {"team": "not a value"}}, "spec.workers.podLabels.team: 'not a value' is not a label value"),
        ({"podAnnotations": {"graphsync.io/config-hash": "x"}}, "podAnnotations: 'graphsync.io/config-hash' is set"),
        ({"env": [{"name": "GRAPHSYNC_LOG_LEVEL", "value": "debug"}]}, "env: GRAPHSYNC_LOG_LEVEL: GRAPHSYNC_* and"),
        ({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}, "env: each variable once"),
        ({"imagePullSecrets": ["Bad_Name"]}, "spec.workers.imagePullSecrets[0]: 'Bad_Name' is not a Kubernetes name"),
    ],
)
def test_pod_options_that_would_clash_with_the_operators_are_refused(workers: dict[str, Any], said: str) -> None:
    spec = shop_spec()
    spec["workers"] = workers
    with pytest.raises(Invalid) as refused:
        parse_spec(resource("SyncPipeline", "shop", "default", spec), SyncPipelineSpec)
    assert said in str(refused.value)


def test_the_charts_pod_defaults_lie_under_each_pipelines_own_placement() -> None:
    chart = Placement.model_validate(
        {
            "nodeSelector": {"pool": "data", "zone": "a"},
            "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "data", "effect": "NoSchedule"}],
            "imagePullSecrets": ["company-registry"],
            "priorityClassName": "normal",
            "podLabels": {"team": "platform", "cost": "shared"},
        }
    )
    spec = shop_spec()
    spec["workers"] = {"nodeSelector": {"zone": "b"}, "priorityClassName": "urgent", "podLabels": {"team": "data"}}
    built = children.pipeline(OWNER, SyncPipelineSpec.model_validate(spec), replace(DEFAULTS, placement=chart))
    template = one(built, "Deployment")["spec"]["template"]
    pod = template["spec"]
    assert pod["nodeSelector"] == {"pool": "data", "zone": "b"}  # maps merged, the pipeline's entry wins
    assert pod["priorityClassName"] == "urgent"
    assert pod["imagePullSecrets"] == [{"name": "company-registry"}]  # lists: the chart's when the spec has none
    assert pod["tolerations"][0]["key"] == "dedicated"
    assert (template["metadata"]["labels"]["team"], template["metadata"]["labels"]["cost"]) == ("data", "shared")


def test_the_charts_affinity_applies_to_a_pipeline_without_one_and_a_pipelines_own_replaces_it() -> None:
    spread = {
        "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 1, "podAffinityTerm": {"topologyKey": "z"}}]
    }
    chart = Placement.model_validate({"affinity": {"podAntiAffinity": spread}})
    on_ssd = {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchLabels": {"ssd": "1"}}]}}
    spec = shop_spec()
    plain = children.pipeline(OWNER, SyncPipelineSpec.model_validate(spec), replace(DEFAULTS, placement=chart))
    assert one(plain, "Deployment")["spec"]["template"]["spec"]["affinity"] == {"podAntiAffinity": spread}
    spec["workers"] = {"affinity": {"nodeAffinity": on_ssd}}
    own = children.pipeline(OWNER, SyncPipelineSpec.model_validate(spec), replace(DEFAULTS, placement=chart))
    assert one(own, "Deployment")["spec"]["template"]["spec"]["affinity"] == {"nodeAffinity": on_ssd}
    assert (
        "affinity"
        not in one(children.pipeline(OWNER, SyncPipelineSpec.model_validate(shop_spec()), DEFAULTS), "Deployment")[
            "spec"
        ]["template"]["spec"]
    )


def test_the_charts_pod_defaults_are_read_and_a_wrong_one_is_named() -> None:
    assert settings.placement_of(None) == Placement()
    assert settings.placement_of('{"priorityClassName": "data"}').priority_class_name == "data"
    with pytest.raises(ValueError, match=r"GRAPHSYNC_WORKER_POD_DEFAULTS \(the chart's workers.podDefaults\): "):
        settings.placement_of('{"podLabels": {"app.kubernetes.io/name": "x"}}')
    with pytest.raises(ValueError, match="nodeSelecter: is not a field here"):
        settings.placement_of('{"nodeSelecter": {"a": "b"}}')


def test_the_charts_values_schema_takes_what_the_operator_does() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    wanted = closed_schema(structural(Placement.model_json_schema(by_alias=True)))
    assert schema["properties"]["workers"]["properties"]["podDefaults"] == wanted, json.dumps(wanted)
