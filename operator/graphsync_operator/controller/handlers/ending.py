"""Pipelines in a namespace being deleted: their workers stopped, what stays told, the finalizer released.

Found each refresh round by asking the API server for namespaces being deleted (kopf, watching a list of
namespaces, stops watching one marked for deletion and never calls the delete handler there), and by the
delete handler itself when kopf does call it (watching the whole cluster).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime

from graphsync_operator.api.specs import API_VERSION
from graphsync_operator.build import events as build_events
from graphsync_operator.build import names
from graphsync_operator.controller import ending
from graphsync_operator.controller.handlers.client import kube
from graphsync_operator.kube import KubeError

log = logging.getLogger(__name__)
TERMINATING = "status.phase=Terminating"


def namespace_ending(namespace: str) -> bool:
    found = kube().get("v1", "Namespace", None, namespace)
    return found is None or bool(found["metadata"].get("deletionTimestamp"))


def let_go(namespace: str, name: str, uid: str) -> None:
    """Stop the workers and tell, about the namespace, what the skipped cleanup leaves in the databases."""
    # Workers first: the namespace controller removes them too, at its own pace, while they go on writing.
    kube().delete_owned("apps/v1", "Deployment", namespace, names.deployment(name), uid)
    kube().delete_owned("batch/v1", "CronJob", namespace, names.sync_cronjob(name), uid)
    message = build_events.cleanup_skipped(namespace, name)
    event = build_events.namespace_event(namespace, name, "Warning", "CleanupSkipped", message, now=datetime.now(UTC))
    try:
        if kube().create(event) is not None:
            log.warning("%s", message)
    except KubeError as exc:
        log.warning("event CleanupSkipped for namespace %s not posted: %s", namespace, exc)


def release_ending(patterns: Sequence[str] | None) -> None:
    """Let go every pipeline the operator's finalizer holds in a namespace it watches that is being deleted."""
    for namespace in ending.ending(kube().list("v1", "Namespace", None, fields=TERMINATING), patterns):
        for held in ending.held(kube().list(API_VERSION, "SyncPipeline", namespace)):
            let_go(held.namespace, held.name, held.uid)
            try:
                kube().merge_patch(API_VERSION, "SyncPipeline", held.namespace, held.name, ending.release(held))
            except KubeError as exc:
                # Changed since it was read (or gone): the next round reads it again.
                log.info("SyncPipeline %s/%s not released yet: %s", held.namespace, held.name, exc)
