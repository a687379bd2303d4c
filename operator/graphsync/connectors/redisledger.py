"""A bidirectional pipeline's state in Redis (its FalkorDB server): the ledger of what both sides last
agreed on, and the conflicts held for a person to settle.

Keys: `graphsync:{pipeline}:ledger:{entity}` (a hash: entity identity -> digest and
data) and `graphsync:{pipeline}:conflicts` (a hash: conflict id -> record). Data
keeps temporal values through `codec`, so a settled version is written back with its types.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import redis

from graphsync import codec


@dataclass(frozen=True)
class Base:
    """What both sides held after the last sync of an entity: its digest, and its data (a merge's base)."""

    digest: int
    data: Mapping[str, Any]


class RedisLedger:
    def __init__(self, client: redis.Redis, *, pipeline: str) -> None:
        self._client = client
        self._prefix = f"graphsync:{pipeline}:ledger:"

    def get(self, entity: str, idents: Sequence[str]) -> dict[str, Base]:
        if not idents:
            return {}
        values = self._client.hmget(self._prefix + entity, list(idents))
        return {
            ident: Base(int(record["digest"]), record["data"])
            for ident, raw in zip(idents, values, strict=True)
            if raw is not None
            for record in (codec.loads(raw),)
        }

    def put(self, entity: str, bases: Mapping[str, Base]) -> None:
        if bases:
            pipe = self._client.pipeline(transaction=False)
            for ident, base in bases.items():
                pipe.hset(self._prefix + entity, ident, codec.dumps({"digest": base.digest, "data": dict(base.data)}))
            pipe.execute()

    def drop(self, entity: str, idents: Sequence[str]) -> None:
        if idents:
            self._client.hdel(self._prefix + entity, *idents)


@dataclass(frozen=True)
class HeldConflict:
    """Both versions of an entity a manual policy holds, and the base they diverged from (None: absent)."""

    id: str
    entity: str
    key: Any
    ident: str
    source: Mapping[str, Any] | None
    target: Mapping[str, Any] | None
    base: Mapping[str, Any] | None
    detected_at: str
    # What the entity is besides its properties (a relationship's ends), to write a settled version back.
    shape: Mapping[str, Any]
    status: str = "open"
    resolved_at: str | None = None
    choice: str | None = None


def conflict_id(ident: str) -> str:
    """Stable per entity, so a conflict seen again by the next pass is the same record."""
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


class RedisConflicts:
    def __init__(self, client: redis.Redis, *, pipeline: str) -> None:
        self._client = client
        self._key = f"graphsync:{pipeline}:conflicts"

    def hold(
        self,
        entity: str,
        key: Any,
        ident: str,
        versions: Mapping[str, Mapping[str, Any] | None],
        *,
        shape: Mapping[str, Any],
    ) -> None:
        """Record a held conflict (`versions`: source, target, base); one already held keeps when it was detected."""
        held = self.get(conflict_id(ident))
        still_open = held.detected_at if held is not None and held.status == "open" else None
        record = HeldConflict(
            id=conflict_id(ident),
            entity=entity,
            key=key,
            ident=ident,
            source=versions["source"],
            target=versions["target"],
            base=versions["base"],
            detected_at=still_open or _now(),
            shape=shape,
        )
        self._client.hset(self._key, record.id, codec.dumps(asdict(record)))

    def get(self, conflict: str) -> HeldConflict | None:
        raw = self._client.hget(self._key, conflict)
        return HeldConflict(**codec.loads(raw)) if raw is not None else None

    def list(self, *, include_resolved: bool = False) -> list[HeldConflict]:
        records = [HeldConflict(**codec.loads(raw)) for raw in self._client.hvals(self._key)]
        chosen = [r for r in records if include_resolved or r.status == "open"]
        return sorted(chosen, key=lambda record: (record.detected_at, record.id))

    def settle(self, conflict: str, choice: str) -> None:
        """Mark a conflict resolved (`choice`: source, target, data, or converged when both sides came to agree)."""
        held = self.get(conflict)
        if held is None:
            return
        settled = {**asdict(held), "status": "resolved", "resolved_at": _now(), "choice": choice}
        self._client.hset(self._key, conflict, codec.dumps(settled))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
