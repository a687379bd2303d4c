"""What a process that runs a pipeline does as it starts, the same for `graphsync run`, `graphsync reconcile` and a
worker pod: SIGTERM and SIGINT become a request to stop."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


def stop_on_signals() -> threading.Event:
    """The event a run watches, set by SIGTERM (a pod ending, a rollout) or SIGINT (Ctrl-C): the run finishes
    the batch in flight, checkpoints it and returns, so a stop loses nothing and repeats nothing."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the batch in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop
