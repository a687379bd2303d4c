"""Run-now requests: an annotation (sync-now, reconcile-now) a user sets, acted on once per value.

What was acted on is kept in `status.handledRequests`, so `--wait` in the plugin can tell when it was.
"""

from __future__ import annotations

from graphsync_operator.build import workloads
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.controller.handlers.resources import Resource
from graphsync_operator.controller.handlers.statuses import post


def pending(resource: Resource, annotation: str) -> str | None:
    """The value of the request not acted on yet, if there is one."""
    request = resource.annotations.get(annotation)
    return request if request and resource.handled_requests().get(annotation) != request else None


def run_now(resource: Resource, annotation: str, cronjob: str | None) -> dict[str, str]:
    """Act on a "run now" annotation once per value: a Job from the CronJob's template. Returns what was handled."""
    handled = resource.handled_requests()
    request = pending(resource, annotation)
    if request is None:
        return handled
    handled[annotation] = request
    if cronjob is None:
        message = f"{annotation}: this pipeline runs continuously, so there is nothing to start"
        post(resource, [("Warning", "RunNowIgnored", message)])
        return handled
    template = kube().get("batch/v1", "CronJob", resource.namespace, cronjob)
    if template is None:
        post(resource, [("Warning", "RunNowFailed", f"CronJob {cronjob} does not exist yet")])
        return handled
    job = workloads.job_now(template, resource.owner, request)
    kube().create(job)
    post(resource, [("Normal", "RunStarted", f"Job {job['metadata']['name']} ({annotation}={request})")])
    return handled
