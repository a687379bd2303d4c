"""Everything one resource owns, as manifests: what the handlers apply, and all the unit tests need."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.api.specs import ReconciliationJobSpec, SyncPipelineSpec
from graphsync_operator.build import access, config, names, workloads
from graphsync_operator.build.config import Rendered
from graphsync_operator.build.names import CLEANUP, RECONCILE, SYNC, Owner
from graphsync_operator.build.workloads import Defaults, PodPlan


@dataclass(frozen=True)
class Children:
    manifests: list[dict[str, Any]]
    rendered: Rendered
    # Kinds this resource may have made before under its fixed names and must not keep now
    # (a pipeline that gained a schedule has no Deployment any more): (apiVersion, kind, name).
    obsolete: list[tuple[str, str, str]]


def pipeline(
    owner: Owner, spec: SyncPipelineSpec, defaults: Defaults, policy: ConflictPolicySpec | None = None
) -> Children:
    rendered = config.render(spec.engine_spec(owner.name, owner.namespace, policy))
    scheduled = spec.schedule is not None
    args = ["sync", "-f", names.CONFIG_FILE, *(["--until-idle"] if scheduled else [])]
    plan = PodPlan(owner, owner.name, SYNC, args, rendered, spec.workers, probes=not scheduled)
    manifests = [config.config_map(owner, rendered), *access.for_workers(owner, owner.name, SYNC)]
    deployment = ("apps/v1", "Deployment", names.deployment(owner.name))
    cron = ("batch/v1", "CronJob", names.sync_cronjob(owner.name))
    if spec.schedule is not None:
        name = names.sync_cronjob(owner.name)
        manifests.append(workloads.cronjob(plan, defaults, name=name, schedule=spec.schedule, suspended=spec.suspend))
        return Children(manifests, rendered, [deployment, ("v1", "Service", names.service(owner.name))])
    manifests += [workloads.deployment(plan, defaults, suspended=spec.suspend), workloads.service(plan)]
    return Children(manifests, rendered, [cron])


def reconciliation(
    owner: Owner,
    job: ReconciliationJobSpec,
    pipeline_spec: SyncPipelineSpec,
    defaults: Defaults,
    policy: ConflictPolicySpec | None = None,
) -> Children:
    """The CronJob that reconciles a pipeline: its config and secrets are the pipeline's own."""
    pipeline_name = job.pipeline_ref.name
    rendered = config.render(pipeline_spec.engine_spec(pipeline_name, owner.namespace, policy))
    plan = PodPlan(
        owner, pipeline_name, RECONCILE, ["reconcile", *reconcile_args(job)], rendered, pipeline_spec.workers, False
    )
    name = names.reconcile_cronjob(owner.name)
    manifests = [
        *access.for_workers(owner, pipeline_name, RECONCILE),
        workloads.cronjob(plan, defaults, name=name, schedule=job.schedule, suspended=job.suspend),
    ]
    return Children(manifests, rendered, [])


def reconcile_args(job: ReconciliationJobSpec) -> list[str]:
    spec = job.job()
    args = ["-f", names.CONFIG_FILE]
    if spec.action.value == "repair":
        args.append("--repair")
    for entity in spec.scope.entities:
        args += ["--entity", entity]
    for key in spec.scope.ids:
        args += ["--id", str(key)]
    args += ["--buckets", str(spec.bucket_count), "--batch-size", str(spec.batch_size), "--samples", str(spec.samples)]
    return args


def cleanup(
    owner: Owner, spec: SyncPipelineSpec, defaults: Defaults, policy: ConflictPolicySpec | None = None
) -> dict[str, Any]:
    """The Job that removes what the pipeline created in the databases; it reports on the workers' Lease."""
    rendered = config.render(spec.engine_spec(owner.name, owner.namespace, policy))
    args = ["cleanup", "-f", names.CONFIG_FILE]
    plan = PodPlan(owner, owner.name, CLEANUP, args, rendered, spec.workers, probes=False, account=SYNC)
    return workloads.job(plan, defaults, name=names.cleanup_job(owner.name))
