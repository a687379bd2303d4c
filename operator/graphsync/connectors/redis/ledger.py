"""A bidirectional graph pipeline's state in Redis (its FalkorDB server): the ledger of what both sides
last agreed on, and the conflicts held for a person to settle.

Keys: `graphsync:{pipeline}:ledger:{entity}` (a hash: entity identity -> digest and
data) and `graphsync:{pipeline}:conflicts` (a hash: conflict id -> record). Data
keeps temporal values through `codec`, so a settled version is written back with its types.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis

from graphsync import codec
from graphsync.conflicts.held import Base, HeldConflicts


class RedisLedger:
    def __init__(self, client: redis.Redis, *, pipeline: str) -> None:
        self._client = client
        self._prefix = f"graphsync:{pipeline}:ledger:"

    def get(self, entity: str, idents: Sequence[str]) -> dict[str, Base]:
        if not idents:
            return {}
        values = self._client.hmget(self._prefix + entity, list(idents))
        return {
            ident: Base.of(int(record["digest"]), record["data"])
            for ident, raw in zip(idents, values, strict=True)
            if raw is not None
            for record in (codec.loads(raw),)
        }

    def idents(self, entity: str) -> Iterator[str]:
        for ident, _ in self._client.hscan_iter(self._prefix + entity, count=1000):
            yield ident.decode() if isinstance(ident, bytes) else str(ident)

    def put(self, entity: str, bases: Mapping[str, Base]) -> None:
        if bases:
            pipe = self._client.pipeline(transaction=False)
            for ident, base in bases.items():
                pipe.hset(self._prefix + entity, ident, codec.dumps({"digest": base.digest, "data": base.stored()}))
            pipe.execute()

    def drop(self, entity: str, idents: Sequence[str]) -> None:
        if idents:
            self._client.hdel(self._prefix + entity, *idents)


class RedisConflicts(HeldConflicts):
    def __init__(self, client: redis.Redis, *, pipeline: str) -> None:
        self._client = client
        self._key = f"graphsync:{pipeline}:conflicts"

    def _load(self, conflict: str) -> dict[str, Any] | None:
        raw = self._client.hget(self._key, conflict)
        return codec.loads(raw) if raw is not None else None

    def _save(self, record: dict[str, Any]) -> None:
        self._client.hset(self._key, record["id"], codec.dumps(record))

    def _all(self) -> list[dict[str, Any]]:
        return [codec.loads(raw) for raw in self._client.hvals(self._key)]
