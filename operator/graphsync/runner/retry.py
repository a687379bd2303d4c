"""Exponential backoff with full jitter, interruptible by shutdown."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass

# The engine's own generator: the process's shared one belongs to whoever else runs in it (a driver, a
# property test drawing its examples), and jitter drawn from it would disturb their sequences.
_JITTER = random.Random()


class Interrupted(Exception):
    """Shutdown was requested while waiting to retry."""


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.2
    maximum: float = 30.0
    multiplier: float = 2.0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Full jitter: uniform in [0, min(maximum, initial * multiplier**attempt)].

        Jitter keeps many workers that failed together from retrying together.
        """
        ceiling = min(self.maximum, self.initial * self.multiplier ** max(attempt, 0))
        return (rng or _JITTER).uniform(0, ceiling)

    def wait(self, attempt: int, stop: threading.Event) -> None:
        if stop.wait(self.delay(attempt)):
            raise Interrupted
