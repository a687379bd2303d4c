"""The operator's settings: kopf's, and what every worker gets (from the environment the chart sets)."""

from __future__ import annotations

import functools
import logging
import os
from typing import Any

import kopf
from pydantic import ValidationError

from graphsync.spec import errors
from graphsync_operator.api.pods import Placement
from graphsync_operator.build import names
from graphsync_operator.build.workloads import Defaults

# How often the refresher computes every status again, in seconds.
STATUS_INTERVAL = float(os.environ.get("GRAPHSYNC_STATUS_INTERVAL", "5"))
# The chart's `workers.podDefaults`, as JSON: placement every pipeline's workers get unless their spec says.
POD_DEFAULTS_ENV = "GRAPHSYNC_WORKER_POD_DEFAULTS"


def defaults() -> Defaults:
    """The operator's settings for every worker; ValueError naming the setting when one is wrong."""
    return Defaults(
        image=os.environ.get("GRAPHSYNC_WORKER_IMAGE", "ghcr.io/graphsync/graphsync:0.1.0"),
        heartbeat_seconds=float(os.environ.get("GRAPHSYNC_HEARTBEAT_SECONDS", "10")),
        placement=placement_of(os.environ.get(POD_DEFAULTS_ENV)),
    )


@functools.lru_cache(maxsize=4)
def placement_of(text: str | None) -> Placement:
    """The pod defaults the chart gives (JSON; none when unset or empty); parsed once, not on every status round
    that builds a pipeline's children."""
    if not text or not text.strip():
        return Placement()
    try:
        return Placement.model_validate_json(text)
    except ValidationError as exc:
        said = "; ".join(errors.messages(exc))
        raise ValueError(f"{POD_DEFAULTS_ENV} (the chart's workers.podDefaults): {said}") from None


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    # kopf's bookkeeping in annotations, so each status holds only what users read.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=names.KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=names.KOPF_PREFIX)
    # Only pipelines with deletionPolicy cleanup carry it, named for what it waits for.
    settings.persistence.finalizer = names.FINALIZER
    settings.posting.level = logging.WARNING
    settings.execution.max_workers = int(os.environ.get("GRAPHSYNC_OPERATOR_WORKERS", "8"))
