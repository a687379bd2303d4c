"""How long a worker may go without its calls coming back: set on the resource, carried to the pod,
read by the worker, and what its probes and report say once it is over."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from graphsync_operator.api.pods import STUCK_SECONDS
from graphsync_operator.api.specs import SyncPipelineSpec
from graphsync_operator.build import children
from graphsync_operator.build.names import Owner
from graphsync_operator.build.workloads import Defaults
from graphsync_operator.reports import WorkerState
from graphsync_operator.worker import health
from graphsync_operator.worker.heartbeat import report_of
from graphsync_operator.worker.identity import Identity
from graphsync_operator.worker.readings import Snapshot
from tests.resources import shop_spec

OWNER = Owner(kind="SyncPipeline", name="shop", namespace="shop", uid="u-1")
T0 = 1_800_000_000.0


def worker_env(spec: dict[str, object]) -> dict[str, str]:
    built = children.pipeline(OWNER, SyncPipelineSpec.model_validate({**spec, "name": "shop"}), Defaults(image="i"))
    deployment = next(m for m in built.manifests if m["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value") for item in container["env"]}


def test_the_threshold_reaches_the_worker_pod_with_a_default() -> None:
    assert worker_env(shop_spec())["GRAPHSYNC_STUCK_SECONDS"] == str(int(STUCK_SECONDS))
    spec = {**shop_spec(), "workers": {"stuckAfterSeconds": 45}}
    assert worker_env(spec)["GRAPHSYNC_STUCK_SECONDS"] == "45"


@pytest.mark.parametrize("value", [0, 9, 86401])
def test_a_threshold_out_of_range_is_refused_naming_the_field(value: int) -> None:
    with pytest.raises(ValidationError, match=r"workers\.stuckAfterSeconds"):
        SyncPipelineSpec.model_validate({**shop_spec(), "name": "shop", "workers": {"stuckAfterSeconds": value}})


def test_the_worker_reads_the_threshold_and_names_a_bad_one() -> None:
    assert Identity.from_env({"HOSTNAME": "h", "GRAPHSYNC_STUCK_SECONDS": "20"}).stuck_seconds == 20
    assert Identity.from_env({"HOSTNAME": "h"}).stuck_seconds == STUCK_SECONDS
    with pytest.raises(ValueError, match=r"GRAPHSYNC_STUCK_SECONDS: -1\.0 is not a positive number"):
        Identity.from_env({"GRAPHSYNC_STUCK_SECONDS": "-1"})


def test_past_the_threshold_the_report_says_stuck_and_for_how_long_and_readiness_fails() -> None:
    seen = Snapshot(progressed_at=T0, alive_at=T0)
    started = datetime.fromtimestamp(T0, UTC)
    fine = report_of(pod="p", started_at=started, now=T0 + 19, snapshot=seen, stuck_after=20)
    assert fine.state is WorkerState.RUNNING
    stuck = report_of(pod="p", started_at=started, now=T0 + 21, snapshot=seen, stuck_after=20)
    assert stuck.state is WorkerState.STUCK
    assert stuck.error == "no read or write has come back for 21s"
    assert health.readiness(stuck, one_shot=False) == (False, "stuck: no read or write has come back for 21s")
