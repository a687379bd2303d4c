"""What every handler invocation leaves behind besides its work: log lines that name the resource and share a
correlation id, and its count, outcome and duration in the operator's metrics.

`observed(kind)` goes between kopf's decorators and the function, so kopf registers the
observed function (under the original's id: kopf follows `functools.wraps`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import kopf

from graphsync import logs
from graphsync_operator import metrics

Handler = TypeVar("Handler", bound=Callable[..., Any])


def outcome_of(error: BaseException | None) -> str:
    """How a handler run ended, as the metrics count it: kopf retries a TemporaryError, never a PermanentError."""
    if error is None:
        return metrics.SUCCESS
    if isinstance(error, kopf.TemporaryError):
        return metrics.RETRY
    if isinstance(error, kopf.PermanentError):
        return metrics.PERMANENT_ERROR
    return metrics.ERROR


def context_of(kind: str, body: Mapping[str, Any] | None) -> dict[str, str]:
    """The log fields of one invocation: the resource, and a new correlation id."""
    meta = (body or {}).get("metadata") or {}
    return {
        "kind": kind,
        "namespace": str(meta.get("namespace") or ""),
        "name": str(meta.get("name") or ""),
        logs.CORRELATION_ID: logs.new_id(),
    }


def observed(kind: str) -> Callable[[Handler], Handler]:
    def wrap(handler: Handler) -> Handler:
        name = handler.__name__

        @functools.wraps(handler)
        def run(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            error: BaseException | None = None
            with logs.scope(**context_of(kind, kwargs.get("body"))):
                try:
                    return handler(*args, **kwargs)
                except BaseException as exc:
                    error = exc
                    raise
                finally:
                    outcome = outcome_of(error)
                    metrics.handler_ran(kind, name, outcome, time.monotonic() - started)
                    patch = kwargs.get("patch")
                    if patch is not None and patch.get("status"):
                        # Not a write: kopf makes it with its own client, out of sight, once the handler is done.
                        metrics.STATUS_PATCHES.labels(kind, outcome).inc()

        return run  # type: ignore[return-value]

    return wrap
