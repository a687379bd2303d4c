"""`pause`, `resume`, `sync-now`, `reconcile-now`: the user's own writes the operator then acts on.

The operator never writes a spec (GitOps tools would fight it), so pausing is the
user's merge patch of `spec.suspend`, recorded under the plugin's field manager. A
"run now" is an annotation the operator acts on once per value and records in
`status.handledRequests`, so `--wait` can tell when it was handled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.specs import API_VERSION, GROUP
from graphsync_operator.api.status import ReconciliationJobStatus, SyncPipelineStatus
from graphsync_operator.build.names import RECONCILE_NOW, SYNC_NOW
from graphsync_operator.kube import Kube
from graphsync_operator.plugin.summary import ready_reason, status_of

# What a user may type before `/NAME`, as kubectl takes `TYPE/NAME`.
KINDS = {
    "syncpipeline": "SyncPipeline",
    "syncpipelines": "SyncPipeline",
    "sp": "SyncPipeline",
    "gsp": "SyncPipeline",
    "reconciliationjob": "ReconciliationJob",
    "reconciliationjobs": "ReconciliationJob",
    "rj": "ReconciliationJob",
    "gsrj": "ReconciliationJob",
}


class PluginError(Exception):
    """Bad input (an unknown resource, a missing Secret, a wrong flag): said plainly, exit code 2."""


@dataclass(frozen=True)
class Ref:
    kind: str
    name: str

    def describe(self) -> str:
        return f"{self.kind.lower()}.{GROUP}/{self.name}"


def ref(text: str, default: str, allowed: tuple[str, ...]) -> Ref:
    """`NAME` or `TYPE/NAME` (`rj/nightly`); the kind must be one the command acts on."""
    kind_text, slash, name = text.rpartition("/")
    kind = KINDS.get(kind_text.lower().removesuffix(".graphsync.io")) if slash else default
    if kind is None:
        raise PluginError(f"{text}: unknown kind {kind_text!r}; use sp/NAME or rj/NAME")
    if kind not in allowed:
        raise PluginError(f"{text}: this command acts on {' or '.join(allowed)}, not {kind}")
    if not name:
        raise PluginError(f"{text}: no name given")
    return Ref(kind, name)


def suspend_patch(suspend: bool) -> dict[str, Any]:
    return {"spec": {"suspend": suspend}}


def request_patch(annotation: str, value: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {annotation: value}}}


def request_value(now: datetime) -> str:
    """A new value per request (the operator acts once per value); readable as when it was asked."""
    return now.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status(resource: dict[str, Any]) -> SyncPipelineStatus | ReconciliationJobStatus:
    if resource.get("kind") == "ReconciliationJob":
        return status_of(ReconciliationJobStatus, resource)
    return status_of(SyncPipelineStatus, resource)


def handled(resource: dict[str, Any], annotation: str, value: str) -> bool:
    return status(resource).handled_requests.get(annotation) == value


def suspended_as_asked(resource: dict[str, Any], suspend: bool) -> bool:
    """The operator has acted on the generation with this `spec.suspend`: Ready says Suspended, or something else.

    Not the phase: a pipeline scaled to zero workers is in phase Suspended too (Ready reason ScaledToZero)."""
    found = status(resource)
    if found.observed_generation != resource["metadata"].get("generation"):
        return False
    return (ready_reason(found.conditions) == Reason.SUSPENDED) == suspend


def wait_for(
    read: Callable[[], dict[str, Any] | None], done: Callable[[dict[str, Any]], bool], what: str, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = read()
        if found is not None and done(found):
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


def read(kube: Kube, namespace: str, target: Ref) -> dict[str, Any]:
    found = kube.get(API_VERSION, target.kind, namespace, target.name)
    if found is None:
        raise PluginError(f"{target.kind} {target.name!r} not found in namespace {namespace!r}")
    return found


def set_suspend(kube: Kube, namespace: str, text: str, *, suspend: bool, wait: float | None) -> str:
    """Pause or resume a SyncPipeline (or a ReconciliationJob's schedule); with `wait`, until the operator shows it."""
    target = ref(text, "SyncPipeline", ("SyncPipeline", "ReconciliationJob"))
    read(kube, namespace, target)
    kube.merge_patch(API_VERSION, target.kind, namespace, target.name, suspend_patch(suspend))
    done = f"{target.describe()} {'paused' if suspend else 'resumed'} (spec.suspend={str(suspend).lower()})"
    if wait is not None:
        what = f"the operator to act on {target.describe()}'s spec.suspend={str(suspend).lower()}"
        wait_for(
            lambda: kube.get(API_VERSION, target.kind, namespace, target.name),
            lambda found: suspended_as_asked(found, suspend),
            what,
            wait,
        )
        done += "; the operator has acted on it"
    return done


def run_now(kube: Kube, namespace: str, text: str, *, kind: str, now: datetime, wait: float | None) -> str:
    """Ask for a run now: a sync of a scheduled SyncPipeline, or a ReconciliationJob's run."""
    target = ref(text, kind, (kind,))
    annotation = SYNC_NOW if kind == "SyncPipeline" else RECONCILE_NOW
    found = read(kube, namespace, target)
    if kind == "SyncPipeline" and not (found.get("spec") or {}).get("schedule"):
        raise PluginError(
            f"{target.describe()} runs continuously (no spec.schedule): sync-now starts a run of a scheduled pipeline"
        )
    value = request_value(now)
    kube.merge_patch(API_VERSION, target.kind, namespace, target.name, request_patch(annotation, value))
    done = f"{target.describe()}: requested {annotation}={value}"
    if wait is not None:
        wait_for(
            lambda: kube.get(API_VERSION, target.kind, namespace, target.name),
            lambda found: handled(found, annotation, value),
            f"the operator to handle {annotation}={value}",
            wait,
        )
        done += "; the operator has started it"
    return done
