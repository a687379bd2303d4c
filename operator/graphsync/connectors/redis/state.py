"""A pipeline's state in Redis (the FalkorDB server of a graph pipeline): checkpoints and the dead-letter store.

Graph pipelines have no PostgreSQL to keep their state in; the FalkorDB server on
either side of them is durable (append-only file) and already reachable.
Keys are `graphsync:{pipeline}:checkpoint` (a hash of JSON values) and
`graphsync:{pipeline}:dead-letter` (a hash of JSON records by id).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import redis

from graphsync import codec
from graphsync.change import ApplyResult, Change
from graphsync.connectors import letters
from graphsync.runner.contracts import DeadLetter, Rejection


class RedisCheckpoints:
    def __init__(self, client: redis.Redis, *, pipeline: str) -> None:
        self._client = client
        self._key = f"graphsync:{pipeline}:checkpoint"

    def get(self, name: str) -> Any:
        value = self._client.hget(self._key, name)
        return codec.loads(value) if value is not None else None

    def put(self, name: str, value: Any) -> None:
        self._client.hset(self._key, name, codec.dumps(value))

    def delete(self, name: str) -> None:
        self._client.hdel(self._key, name)

    def all(self) -> dict[str, Any]:
        return {_str(name): codec.loads(value) for name, value in self._client.hgetall(self._key).items()}


class RedisDeadLetters:
    def __init__(self, client: redis.Redis, *, pipeline: str) -> None:
        self._client = client
        self._key = f"graphsync:{pipeline}:dead-letter"
        self._ids = f"graphsync:{pipeline}:dead-letter-id"

    def record(self, rejections: Sequence[Rejection]) -> None:
        pipe = self._client.pipeline(transaction=True)
        now = datetime.now(UTC).isoformat()
        first = int(self._client.incrby(self._ids, len(rejections))) - len(rejections) + 1
        for offset, rejection in enumerate(rejections):
            pipe.hset(self._key, str(first + offset), codec.dumps(letters.record_of(rejection, now)))
        pipe.execute()

    def list(self, *, include_replayed: bool = False, limit: int = 100) -> list[DeadLetter]:
        found = [letters.letter_of(int(i), codec.loads(raw)) for i, raw in self._client.hgetall(self._key).items()]
        found = [letter for letter in found if include_replayed or letter.replayed_at is None]
        return sorted(found, key=lambda letter: letter.id)[:limit]

    def count(self) -> int:
        """Records not replayed yet."""
        return sum(1 for raw in self._client.hvals(self._key) if codec.loads(raw).get("replayed_at") is None)

    def replay(self, apply: Callable[[Sequence[Change]], ApplyResult], ids: Sequence[int] | None = None) -> int:
        """Apply open records again through `apply` (the pipeline's sink); returns how many were replayed."""
        chosen = letters.replay(self.list(limit=2**31), apply, ids)
        if not chosen:
            return 0
        now = datetime.now(UTC).isoformat()
        pipe = self._client.pipeline(transaction=True)
        for letter in chosen:
            record = codec.loads(self._client.hget(self._key, str(letter.id)) or "{}")
            pipe.hset(self._key, str(letter.id), codec.dumps({**record, "replayed_at": now}))
        pipe.execute()
        return len(chosen)


def _str(name: Any) -> str:
    return name.decode() if isinstance(name, bytes) else str(name)
