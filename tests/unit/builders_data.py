"""What the builder tests share: one owner, the operator's defaults, and the parts of what was built they read.

The builders' tests are split by what is built (config, workloads, access, all children);
each builds a pipeline the same way and picks its manifests apart with these.
"""

from __future__ import annotations

from typing import Any

from graphsync_operator.api.specs import ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.build import children
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
