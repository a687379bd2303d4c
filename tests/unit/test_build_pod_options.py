"""A cluster's pod options (placement, affinity, env, volumes) on every kind of worker pod, and the ones that would
clash with the operator's own refused (no servers)."""

from __future__ import annotations

from typing import Any

import pytest

from graphsync_operator.api.crds import all_crds
from graphsync_operator.api.pods import OWN_MOUNTS, OWN_VOLUMES, VOLUME_SOURCES, Volume
from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.build import children
from graphsync_operator.controller.handlers.specs import Invalid, parse_spec
from tests.resources import resource, shop_spec
from tests.unit.builders_data import DEFAULTS, OWNER, build, one, reconcile_job, scheduled_spec
from tests.worker_pods import every_option


def templates(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Kind of what runs the pods -> their pod template."""
    built = build(spec)
    found = {}
    for manifest in built.manifests:
        if manifest["kind"] == "Deployment":
            found["Deployment"] = manifest["spec"]["template"]
        elif manifest["kind"] == "CronJob":
            found["CronJob"] = manifest["spec"]["jobTemplate"]["spec"]["template"]
    return found


@pytest.mark.parametrize(
    ("spec", "kind"),
    [({**shop_spec(), "workers": every_option()}, "Deployment"), (scheduled_spec(workers=every_option()), "CronJob")],
)
def test_every_pod_option_reaches_the_pod_template(spec: dict[str, Any], kind: str) -> None:
    template = templates(spec)[kind]
    pod = template["spec"]
    options = every_option()
    assert pod["imagePullSecrets"] == [{"name": "registry-cred"}]
    assert pod["priorityClassName"] == "data-plane"
    assert pod["nodeSelector"] == {"type": "kwok"}
    assert pod["tolerations"] == options["tolerations"]
    assert pod["affinity"] == options["affinity"]
    assert {k: template["metadata"]["labels"][k] for k in options["podLabels"]} == options["podLabels"]
    assert {k: template["metadata"]["annotations"][k] for k in options["podAnnotations"]} == options["podAnnotations"]
    [worker] = pod["containers"]
    assert worker["env"][-2:] == options["env"]
    # Added after the operator's own, which stay as they were.
    assert [v["name"] for v in pod["volumes"]] == [*OWN_VOLUMES[:3], "ca-bundle", "scratch", "pod-info"]
    assert pod["volumes"][3:] == options["volumes"]
    assert worker["volumeMounts"][3:] == options["volumeMounts"]


def test_the_operators_own_mounts_and_volumes_are_the_ones_a_spec_keeps_clear_of() -> None:
    tls = shop_spec()
    tls["target"]["neo4j"]["tls"] = {"ca": {"secretKeyRef": {"name": "ca", "key": "ca.crt"}}}
    pod = templates(tls)["Deployment"]["spec"]
    [worker] = pod["containers"]
    assert sorted(m["mountPath"] for m in worker["volumeMounts"]) == sorted(OWN_MOUNTS)
    assert sorted(v["name"] for v in pod["volumes"]) == sorted(OWN_VOLUMES)


def test_without_options_the_pod_has_only_the_operators() -> None:
    pod = templates(shop_spec())["Deployment"]["spec"]
    for absent in ("affinity", "nodeSelector", "tolerations", "imagePullSecrets", "priorityClassName"):
        assert absent not in pod
    assert [v["name"] for v in pod["volumes"]] == list(OWN_VOLUMES[:3])


def test_the_cleanup_job_and_the_reconciliation_run_where_the_workers_do() -> None:
    spec = SyncPipelineSpec.model_validate({**shop_spec(), "workers": every_option(), "deletionPolicy": "cleanup"})
    cleanup = children.cleanup(OWNER, spec, DEFAULTS)["spec"]["template"]["spec"]
    reconcile = one(children.reconciliation(OWNER, reconcile_job(), spec, DEFAULTS), "CronJob")
    for pod in (cleanup, reconcile["spec"]["jobTemplate"]["spec"]["template"]["spec"]):
        assert pod["affinity"] == every_option()["affinity"]
        assert pod["volumes"][3:] == every_option()["volumes"]
        assert pod["containers"][0]["volumeMounts"][3:] == every_option()["volumeMounts"]


def refused(workers: dict[str, Any]) -> str:
    with pytest.raises(Invalid) as refusal:
        parse_spec(resource("SyncPipeline", "shop", "default", {**shop_spec(), "workers": workers}), SyncPipelineSpec)
    return str(refusal.value)


def mounts(*paths: str) -> dict[str, Any]:
    return {
        "volumes": [{"name": "extra", "emptyDir": {}}],
        "volumeMounts": [{"name": "extra", "mountPath": path} for path in paths],
    }


@pytest.mark.parametrize(
    ("workers", "said"),
    [
        ({"volumes": [{"name": "both", "emptyDir": {}, "secret": {"secretName": "s"}}]}, "both: exactly one of"),
        ({"volumes": [{"name": "none"}]}, "none: exactly one of configMap"),
        ({"volumes": [{"name": "node", "hostPath": {"path": "/"}}]}, "hostPath"),
        ({"volumes": [{"name": "config", "emptyDir": {}}]}, "volumes: config is one of the operator's volumes"),
        ({"volumes": [{"name": "a", "emptyDir": {}}, {"name": "a", "emptyDir": {}}]}, "volumes: a is named twice"),
        ({"volumeMounts": [{"name": "elsewhere", "mountPath": "/x"}]}, "elsewhere is not one of workers.volumes"),
        (mounts("/etc/graphsync"), "/etc/graphsync meets the operator's mount point /etc/graphsync"),
        (mounts("/etc/graphsync/extra"), "meets the operator's mount point /etc/graphsync"),
        (mounts("/var/cache"), "/var/cache meets the operator's mount point /var/cache/graphsync"),
        (mounts("/tmp/../tmp/x"), "meets the operator's mount point /tmp"),
        (mounts("/"), "meets the operator's mount point"),
        (mounts("/data", "/data/"), "volumeMounts: /data/ is mounted twice"),
        (mounts("relative"), "spec.workers.volumeMounts[0].mountPath"),
        ({"affinity": {"nodeAfinity": {}}}, "nodeAfinity"),
    ],
)
def test_pod_options_the_operator_cannot_take_are_refused_naming_the_field(workers: dict[str, Any], said: str) -> None:
    assert said in refused(workers)


def test_every_volume_kind_the_restricted_pod_standard_allows_is_taken() -> None:
    for kind in VOLUME_SOURCES:
        volume = Volume.model_validate({"name": "v", kind: {}})
        assert volume.model_dump(by_alias=True, exclude_none=True) == {"name": "v", kind: {}}


def test_the_crd_keeps_what_the_api_server_checks_and_checks_what_the_operator_relies_on() -> None:
    spec = all_crds()["syncpipelines.yaml"]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    workers = spec["properties"]["workers"]
    for name in ("nodeAffinity", "podAffinity", "podAntiAffinity"):
        assert workers["properties"]["affinity"]["properties"][name]["x-kubernetes-preserve-unknown-fields"] is True
    volume = workers["properties"]["volumes"]["items"]
    assert sorted(volume["properties"]) == sorted(["name", *VOLUME_SOURCES])
    assert workers["properties"]["volumes"]["x-kubernetes-list-map-keys"] == ["name"]
    rules = [rule["rule"] for rule in volume["x-kubernetes-validations"]]
    assert all(f"has(self.{kind})" in rules[0] for kind in VOLUME_SOURCES)
    assert "volumeMounts.all" in workers["x-kubernetes-validations"][0]["rule"]


def test_a_deployment_is_built_with_the_options_and_the_operators_selector_labels() -> None:
    deployment = one(build({**shop_spec(), "workers": {**every_option(), "podLabels": {"team": "data"}}}), "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert all(labels[key] == value for key, value in deployment["spec"]["selector"]["matchLabels"].items())
