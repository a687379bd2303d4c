"""A graph pipeline's state in its target graph, where no FalkorDB server is at hand (Neo4j to Neo4j):
checkpoints and the dead-letter store, the same interface as `redis.state` gives with FalkorDB.

Checkpoints are `GraphsyncCheckpoint` nodes (`id` `<pipeline>:<name>`, as a files pipeline's), dead letters
`GraphsyncDeadLetter` nodes numbered by a `GraphsyncDeadLetterSequence`; values are JSON text, which every
graph database holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, LiteralString

from graphsync import codec
from graphsync.change import ApplyResult, Change
from graphsync.connectors import letters
from graphsync.connectors.graphs.reading import Store
from graphsync.runner.contracts import DeadLetter, Rejection

_GET: LiteralString = "MATCH (c:GraphsyncCheckpoint {id: $id}) RETURN c.value"
_PUT: LiteralString = "MERGE (c:GraphsyncCheckpoint {id: $id}) SET c.pipeline = $pipeline, c.value = $value"
_DELETE: LiteralString = "MATCH (c:GraphsyncCheckpoint {id: $id}) DELETE c"
_ALL: LiteralString = "MATCH (c:GraphsyncCheckpoint) WHERE c.pipeline = $pipeline RETURN c.id, c.value ORDER BY c.id"
# One query, so two writers never take the same numbers (a MERGE and its SET run in one transaction).
_NUMBERS: LiteralString = """
MERGE (s:GraphsyncDeadLetterSequence {pipeline: $pipeline})
SET s.last = coalesce(s.last, 0) + $count
RETURN s.last
"""
_RECORD: LiteralString = """
UNWIND $letters AS letter
CREATE (d:GraphsyncDeadLetter {pipeline: $pipeline, id: letter.id, record: letter.record, replayed: false})
"""
_LIST: LiteralString = """
MATCH (d:GraphsyncDeadLetter) WHERE d.pipeline = $pipeline AND ($all OR NOT d.replayed)
RETURN d.id, d.record ORDER BY d.id LIMIT $limit
"""
_COUNT: LiteralString = "MATCH (d:GraphsyncDeadLetter) WHERE d.pipeline = $pipeline AND NOT d.replayed RETURN count(d)"
_REPLAYED: LiteralString = """
MATCH (d:GraphsyncDeadLetter) WHERE d.pipeline = $pipeline AND d.id IN $ids
SET d.replayed = true, d.record = $records[toString(d.id)]
"""
# Cleanup: every state node of the pipeline, in pieces.
DELETE_STATE: tuple[LiteralString, ...] = (
    "MATCH (c:GraphsyncCheckpoint) WHERE c.pipeline = $pipeline WITH c LIMIT $limit DELETE c RETURN count(c)",
    "MATCH (d:GraphsyncDeadLetter) WHERE d.pipeline = $pipeline WITH d LIMIT $limit DELETE d RETURN count(d)",
    "MATCH (s:GraphsyncDeadLetterSequence) WHERE s.pipeline = $pipeline WITH s LIMIT $limit DELETE s RETURN count(s)",
)


class GraphCheckpoints:
    def __init__(self, store: Store, *, pipeline: str) -> None:
        self._store = store
        self._pipeline = pipeline

    def get(self, name: str) -> Any:
        rows = self._store.read(_GET, {"id": self._id(name)})
        return codec.loads(rows[0][0]) if rows and rows[0][0] is not None else None

    def put(self, name: str, value: Any) -> None:
        self._store.write(_PUT, {"id": self._id(name), "pipeline": self._pipeline, "value": codec.dumps(value)})

    def delete(self, name: str) -> None:
        self._store.write(_DELETE, {"id": self._id(name)})

    def all(self) -> dict[str, Any]:
        rows = self._store.read(_ALL, {"pipeline": self._pipeline})
        return {str(ident).removeprefix(f"{self._pipeline}:"): codec.loads(value) for ident, value in rows}

    def _id(self, name: str) -> str:
        return f"{self._pipeline}:{name}"


class GraphDeadLetters:
    def __init__(self, store: Store, *, pipeline: str) -> None:
        self._store = store
        self._pipeline = pipeline

    def record(self, rejections: Sequence[Rejection]) -> None:
        if not rejections:
            return
        [[last]] = self._store.write(_NUMBERS, {"pipeline": self._pipeline, "count": len(rejections)})
        first = int(last) - len(rejections) + 1
        now = datetime.now(UTC).isoformat()
        records = [
            {"id": first + offset, "record": codec.dumps(letters.record_of(rejection, now))}
            for offset, rejection in enumerate(rejections)
        ]
        self._store.write(_RECORD, {"pipeline": self._pipeline, "letters": records})

    def list(self, *, include_replayed: bool = False, limit: int = 100) -> list[DeadLetter]:
        rows = self._store.read(_LIST, {"pipeline": self._pipeline, "all": include_replayed, "limit": limit})
        return [letters.letter_of(int(ident), codec.loads(record)) for ident, record in rows]

    def count(self) -> int:
        [[found]] = self._store.read(_COUNT, {"pipeline": self._pipeline})
        return int(found)

    def replay(self, apply: Callable[[Sequence[Change]], ApplyResult], ids: Sequence[int] | None = None) -> int:
        """Apply open records again through `apply` (the pipeline's sink); returns how many were replayed."""
        chosen = letters.replay(self.list(limit=2**31), apply, ids)
        if not chosen:
            return 0
        now = datetime.now(UTC).isoformat()
        records = {str(letter.id): codec.dumps(letters.replayed_record(letter, now)) for letter in chosen}
        self._store.write(_REPLAYED, {"pipeline": self._pipeline, "ids": list(map(int, records)), "records": records})
        return len(chosen)
