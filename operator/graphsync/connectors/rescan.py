"""Where a watermark scan is, and the edge it reads again (PostgreSQL and graph sources alike).

A watermark is stamped when a row or entity is written, but it shows only once its transaction commits:
one that stamps early and commits late lands behind what the scan already read. So the position kept
(the checkpoint, `safe`) stays behind a horizon (now minus an overlap, or older), while reading goes on
ahead of it (`cursor`); whenever the scan has caught up it reads once more from `safe`. What committed late
is found then. What it reads again unchanged is not sent again; what changed under the same watermark
(two updates within one tick of a clock) is, and the sink lets it win the tie (see slots.newer).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphsync.connectors.graphs.reading import digest


@dataclass
class Position:
    cursor: list[Any] | None = None
    safe: list[Any] | None = None
    rewound_at: float = 0.0
    nulls_reported: bool = False
    # What was read of entities the scan will read again (ahead of the horizon): id -> (version, digest).
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)
    # Entities refused for a watermark that gives no version, this run: each is refused once.
    refused: set[str] = field(default_factory=set)

    def refused_once(self, ident: str) -> bool:
        """Whether an entity refused now is refused for the first time this run."""
        if ident in self.refused:
            return False
        self.refused.add(ident)
        return True

    def read_again_unchanged(self, ident: str, version: int, content: Mapping[str, Any], *, ahead: bool) -> bool:
        """Whether an entity just read was read before as it is (then it is not sent again); an entity ahead
        of the horizon is remembered, as the scan will read it again."""
        if not ahead and ident not in self.seen:
            return False
        mark = (version, digest(content))
        if self.seen.get(ident) == mark:
            return True
        if ahead:
            self.seen[ident] = mark
        else:
            del self.seen[ident]
        return False

    def rewind(self, overlap_seconds: float, oldest: int | None) -> None:
        """Caught up: read once more from the checkpoint, at most every half overlap. `oldest`: the version at
        the checkpoint; what was seen before it is not read again, and is forgotten."""
        if self.cursor == self.safe or time.monotonic() - self.rewound_at < overlap_seconds / 2:
            return
        self.cursor = self.safe
        self.rewound_at = time.monotonic()
        if oldest is not None:
            self.seen = {ident: mark for ident, mark in self.seen.items() if mark[0] >= oldest}
