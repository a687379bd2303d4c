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
from graphsync.change import ApplyResult, Change, Operation
from graphsync.pipeline.contracts import DeadLetter, Rejection


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
            change = rejection.change
            record = {
                "entity_type": change.entity,
                "entity_key": change.key,
                "operation": change.op.value,
                "payload": dict(change.data),
                "version": change.version,
                "origin": change.origin,
                "reason": rejection.reason,
                "attempts": rejection.attempts,
                "failed_at": now,
                "replayed_at": None,
            }
            pipe.hset(self._key, str(first + offset), codec.dumps(record))
        pipe.execute()

    def list(self, *, include_replayed: bool = False, limit: int = 100) -> list[DeadLetter]:
        letters = [_letter(int(i), codec.loads(raw)) for i, raw in self._client.hgetall(self._key).items()]
        letters = [letter for letter in letters if include_replayed or letter.replayed_at is None]
        return sorted(letters, key=lambda letter: letter.id)[:limit]

    def count(self) -> int:
        """Records not replayed yet."""
        return sum(1 for raw in self._client.hvals(self._key) if codec.loads(raw).get("replayed_at") is None)

    def replay(self, apply: Callable[[Sequence[Change]], ApplyResult], ids: Sequence[int] | None = None) -> int:
        """Apply open records again through `apply` (the pipeline's sink); returns how many were replayed."""
        chosen = [letter for letter in self.list(limit=2**31) if not ids or letter.id in ids]
        if not chosen:
            return 0
        apply(
            [
                Change(
                    letter.entity_type, letter.entity_key, Operation(letter.operation), letter.version, letter.payload
                )
                for letter in chosen
            ]
        )
        now = datetime.now(UTC).isoformat()
        pipe = self._client.pipeline(transaction=True)
        for letter in chosen:
            record = codec.loads(self._client.hget(self._key, str(letter.id)) or "{}")
            pipe.hset(self._key, str(letter.id), codec.dumps({**record, "replayed_at": now}))
        pipe.execute()
        return len(chosen)


def _letter(ident: int, record: dict[str, Any]) -> DeadLetter:
    replayed = record.get("replayed_at")
    return DeadLetter(
        id=ident,
        entity_type=record["entity_type"],
        entity_key=record["entity_key"],
        operation=record["operation"],
        payload=record["payload"],
        version=int(record["version"]),
        origin=record.get("origin"),
        reason=record["reason"],
        attempts=int(record["attempts"]),
        failed_at=datetime.fromisoformat(record["failed_at"]),
        replayed_at=datetime.fromisoformat(replayed) if replayed else None,
    )
