"""Who writes a resource's status: the spec handler (through kopf, retried by kopf), the refresher, or, for a spec
kopf will never hand to the handler again, the refresher doing the handler's work.

kopf keeps a resource's bookkeeping in annotations (see settings.configure): the spec it last handled, and its
handlers' progress while a retry waits.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import kopf

from graphsync_operator.api.reasons import Reason
from graphsync_operator.build.names import KOPF_PREFIX
from graphsync_operator.controller.assess import Problem

T = TypeVar("T")

# Reasons only a spec handler finds (and clears): while one stands, the timers leave the status to that handler.
HANDLER_REASONS = frozenset(
    (
        Reason.INVALID_SPEC,
        Reason.SECRET_MISSING,
        Reason.POLICY_MISSING,
        Reason.POLICY_INVALID,
        Reason.PIPELINE_MISSING,
        Reason.PIPELINE_INVALID,
        Reason.NAME_TAKEN,
    )
)


# Of those, the ones the handler retries on (an invalid spec waits for an edit instead).
RETRIED_REASONS = HANDLER_REASONS - {Reason.INVALID_SPEC}


def held_by_handler(status: Mapping[str, Any], reasons: frozenset[Reason] = HANDLER_REASONS) -> bool:
    # The status is read back from the cluster, so its reason is a plain string: a StrEnum member hashes as its value.
    return any(c.get("type") == "Ready" and c.get("reason") in reasons for c in status.get("conditions", []))


def retry_delay(failures: int) -> float:
    """The delay before the next try of a spec handler that failed `failures` times: 10 s, doubling, 5 min at most."""
    return float(min(300, 10 * 2**failures))


def raise_for(problem: Problem | None, retry: int) -> None:
    """After a spec handler wrote its status: kopf retries a problem, unless it is permanent."""
    if problem is not None and problem.permanent:
        raise kopf.PermanentError(problem.message)
    if problem is not None:
        raise kopf.TemporaryError(problem.message, delay=retry_delay(retry))


LAST_HANDLED = f"{KOPF_PREFIX}/last-handled-configuration"


def stranded(body: Mapping[str, Any], now: datetime) -> bool:
    """Whether the spec handler's work is left undone with kopf never to do it: a spec set back to the one kopf last
    handled while a retry of a later one waited (kopf finds no change against what it last handled, and leaves that
    retry undone for good, its progress record stale), so the status would stay at the failed generation; or a
    problem a handler retries on, found again outside kopf (see `resettled`). Never while kopf has a change to
    handle or a retry still to make."""
    annotations: Mapping[str, str] = body["metadata"].get("annotations") or {}
    progress = [v for k, v in annotations.items() if k.startswith(f"{KOPF_PREFIX}/") and k != LAST_HANDLED]
    if any(_due(record, now) for record in progress):
        return False
    try:
        handled = json.loads(annotations.get(LAST_HANDLED) or "null")
    except ValueError:
        return False
    if not isinstance(handled, dict) or handled.get("spec") != body.get("spec"):
        return False
    return not current_generation(body) or held_by_handler(body.get("status") or {}, RETRIED_REASONS)


# How late kopf may be with a retry it keeps before its record counts as left behind.
LATE = timedelta(seconds=60)


def _due(progress: str, now: datetime) -> bool:
    """Whether a kopf handler's progress record still stands for work kopf will do: running (no delay set) or
    waiting for a retry not long overdue. One unreadable counts as kopf's."""
    try:
        record = json.loads(progress)
        if record.get("success") or record.get("failure"):
            return False
        delayed = record.get("delayed")
        return delayed is None or datetime.fromisoformat(delayed) + LATE > now
    except (ValueError, TypeError, AttributeError):
        return True


@dataclass
class Pace:
    """When the refresher tries a stranded resource's spec again, after it failed `n` times in a row: kopf's own
    retry delays (`retry_delay`), so a problem that stays does not cost a round of requests every few seconds."""

    failures: dict[str, tuple[int, float]] = field(default_factory=dict)

    def due(self, uid: str, now: float) -> bool:
        return now >= self.failures.get(uid, (0, 0.0))[1]

    def settled(self, uid: str, now: float, *, failed: bool) -> None:
        if not failed:
            self.failures.pop(uid, None)
            return
        n = self.failures.get(uid, (0, 0.0))[0]
        self.failures[uid] = (n + 1, now + retry_delay(n))


RETRIES = Pace()


async def resettled(uid: str, settle: Callable[[], tuple[T, object | None]]) -> T | None:
    """For a stranded resource (see `stranded`) of `uid`, what `settle` (the spec handler's work, returning the status
    and the problem met, if any) gives, run off the event loop at kopf's retry pace; None while a retry is not due."""
    if not RETRIES.due(uid, time.monotonic()):
        return None
    status, problem = await asyncio.to_thread(settle)
    RETRIES.settled(uid, time.monotonic(), failed=problem is not None)
    return status


def current_generation(body: Mapping[str, Any]) -> bool:
    """Whether the spec handler has written the status for this generation (a timer must not go before it)."""
    return bool((body.get("status") or {}).get("observedGeneration") == body["metadata"].get("generation"))
