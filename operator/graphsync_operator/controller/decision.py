"""A pipeline's state decided in one (pure): the Ready condition, the phase, and why it is Degraded or
Reconciling; `assess` decides it from what was observed and writes the conditions from it."""

from __future__ import annotations

from dataclasses import dataclass

from graphsync_operator.api.reasons import Reason
from graphsync_operator.api.status import Phase


@dataclass(frozen=True)
class Cause:
    """Why a condition is set: its reason, and a message for people."""

    reason: Reason
    message: str


@dataclass(frozen=True)
class Verdict:
    """The Ready condition: whether it holds, and why."""

    holds: bool
    reason: Reason
    message: str


@dataclass(frozen=True)
class Decision:
    """A pipeline's state in one: Ready, the phase, and why it is Degraded or Reconciling (None: it is not)."""

    ready: Verdict
    phase: Phase
    degraded: Cause | None = None
    reconciling: Cause | None = None

    @classmethod
    def failing(cls, cause: Cause) -> Decision:
        """Not Ready and Degraded, for the same cause."""
        return cls(Verdict(False, cause.reason, cause.message), Phase.DEGRADED, degraded=cause)

    @classmethod
    def pending(cls, cause: Cause) -> Decision:
        """Not Ready while it gets there (Reconciling), for the same cause."""
        return cls(Verdict(False, cause.reason, cause.message), Phase.PENDING, reconciling=cause)
