"""Graph sources: a full read in key order, and an incremental read by watermark with key scans for deletes.

Graph databases keep no change log (Neo4j Community has no CDC), so changes are
found by reading: new and updated entities by a watermark property every write
advances, deleted ones by comparing the key sets of source and target
(`compare.differential`), which is the only way to see an entity that is gone.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, LiteralString

from graphsync.change import Change, version_of
from graphsync.compare import differential
from graphsync.connectors import cypher
from graphsync.connectors.graphs import queries, sides
from graphsync.connectors.graphs.reading import (
    GraphReader,
    Versions,
    fetch,
    node_change,
    relationship_bound,
    relationship_change,
    start_keys,
)
from graphsync.connectors.rescan import Position
from graphsync.connectors.rows import PLAIN, Form, entity_id
from graphsync.runner import snapshots
from graphsync.runner.contracts import Batch, Checkpoints, Rejection
from graphsync.spec.mapping import Mappings, RelationshipMapping

# Entities without the watermark refused once per run, at most this many: enough to find them.
NULLS_REPORTED = 100


class GraphSnapshotSource:
    """Reads every mapped node label, then every relationship type, in key order; resumes from its checkpoint.

    Relationships are read by ranges of their start node's key (a super-node's by its end node keys too),
    so a page is as cheap at the end of the graph as at the start and never larger than the limit.
    """

    def __init__(
        self, reader: GraphReader, mappings: Mappings, checkpoints: Checkpoints, *, versions: Versions
    ) -> None:
        self._reader = reader
        self._mappings = mappings
        self._checkpoints = checkpoints
        self._versions = versions
        self._entities = mappings.entity_names()
        self._positions: dict[str, dict[str, Any]] = {}

    def prepare(self) -> None:
        for entity in self._entities:
            self._positions[entity] = snapshots.position(self._checkpoints, entity)

    def read(self, limit: int) -> Batch:
        for entity in self._entities:
            position = self._positions[entity]
            if position.get("done"):
                continue
            changes, token = self._page(entity, position, limit)
            self._positions[entity] = token
            versioned, rejected = _versioned(changes, self._versions)
            final = bool(token["done"]) and entity == self._entities[-1]
            return Batch(changes=versioned, rejected=rejected, token=(entity, token), final=final)
        return Batch(changes=[], final=True)

    def _page(self, entity: str, position: dict[str, Any], limit: int) -> tuple[list[Change], dict[str, Any]]:
        """One page: the changes, and the position after it (`after`, with `after_end` inside a super-node's
        relationships; `done` once the entity is finished)."""
        after = position.get("after")
        rel = next((r for r in self._mappings.relationships if r.name == entity), None)
        if rel is None:
            start = self._mappings.node(entity)
            keys = start_keys(self._reader, start, after, limit)
            if not keys:
                return [], {"after": after, "done": True}
            rows = fetch(
                self._reader,
                sides.query(
                    queries.NODES, sides.node_slots(start, target=False), *sides.key_range(after is not None, True)
                ),
                {"low": after, "high": keys[-1]},
            )
            return [node_change(start, props, 0) for _, props in rows], {"after": keys[-1], "done": len(keys) < limit}
        low = None if after is None else (after, position.get("after_end"))
        high = relationship_bound(self._reader, self._mappings, rel, low, limit)
        conditions, params = sides.relationship_range(low, high)
        slots = sides.relationship_slots(self._mappings, rel, target=False)
        rows = fetch(self._reader, sides.query(queries.RELATIONSHIPS, slots, *conditions), params)
        changes = [relationship_change(rel, s, t, props, 0) for s, t, props in rows]
        if high is None:
            return changes, {**position, "done": True}
        return changes, {"after": high[0], "after_end": high[1], "done": False}

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        if batch.token is not None:
            entity, position = batch.token
            snapshots.keep_position(self._checkpoints, entity, position)

    def close(self) -> None:
        self._reader.close()


class GraphWatermarkSource:
    """Polls each mapped label and type for entities whose watermark moved past the last synced one.

    Pages are ordered by watermark, then key, so entities sharing a watermark
    (a bulk load) are paged through like any others and none is skipped. The checkpoint stays
    `overlap_seconds` behind this worker's clock, and the scan reads again from it whenever it has caught
    up (see rescan), so a transaction that stamps early and commits late is found. Entities without the
    watermark are refused once per run with the reason. Every `delete_scan_interval` seconds a key scan
    turns entities the target holds but the source lost into deletes.
    """

    def __init__(
        self,
        reader: GraphReader,
        target: GraphReader,
        mappings: Mappings,
        checkpoints: Checkpoints,
        *,
        watermark: str,
        delete_scan_interval: float | None,
        overlap_seconds: float = 10.0,
    ) -> None:
        self._reader = reader
        self._target = target
        self._mappings = mappings
        self._checkpoints = checkpoints
        self._watermark = watermark
        # Every entity read here has the watermark (the scan selects on it).
        self._versions = Versions(watermark, 0, reader.native)
        self._interval = delete_scan_interval
        self._entities = mappings.entity_names()
        self._overlap = overlap_seconds
        self._positions: dict[str, Position] = {}
        self._next = 0
        self._scan: Iterator[list[Change]] | None = None
        self._last_scan = 0.0

    def prepare(self) -> None:
        for entity in self._entities:
            stored = self._checkpoints.get(f"watermark:{entity}")
            saved = list(stored) if stored else None
            self._positions[entity] = Position(cursor=saved, safe=saved)

    def read(self, limit: int) -> Batch:
        for _ in range(len(self._entities)):
            entity = self._entities[self._next % len(self._entities)]
            self._next += 1
            batch = self._read_entity(entity, limit)
            if batch.changes or batch.rejected:
                return batch
        return Batch(changes=self._deletes())

    def _deletes(self) -> list[Change]:
        """The next chunk of a key scan, when one is due and the watermark scan found nothing new."""
        if self._interval is None:
            return []
        if self._scan is None and time.monotonic() - self._last_scan >= self._interval:
            self._scan = differential.differences(
                self._reader, self._target, self._mappings, versions=self._versions, content=False
            )
        while self._scan is not None:
            chunk = next(self._scan, None)
            if chunk is None:
                self._scan = None
                self._last_scan = time.monotonic()
            elif chunk:
                return chunk
        return []

    def _read_entity(self, entity: str, limit: int) -> Batch:
        rel = next((r for r in self._mappings.relationships if r.name == entity), None)
        position = self._positions[entity]
        if not position.nulls_reported:
            position.nulls_reported = True
            refused = self._nulls(rel, entity)
            if refused:
                return Batch(changes=[], rejected=refused)
        while True:
            rows = self._rows(rel, entity, position.cursor, limit)
            if not rows:
                oldest = position.safe[0] if position.safe else None
                position.rewind(self._overlap, None if oldest is None else self._version(oldest))
                return Batch(changes=[])
            changes, rejected = _versioned([self._change(rel, entity, row) for row in rows], self._versions)
            # An entity whose watermark is no timestamp or integer is refused once with the reason; it never
            # becomes the scan's position, which then could not be compared with any other.
            rejected = [r for r in rejected if position.refused_once(entity_id(r.change.entity, r.change.key))]
            horizon = (time.time() - self._overlap) * 1_000_000
            changes = [
                c
                for c in changes
                if not position.read_again_unchanged(
                    entity_id(c.entity, c.key),
                    c.version,
                    c.data,
                    ahead=_stamped_in_time(c.data.get(self._watermark), self._reader, horizon),
                )
            ]
            # The position is (watermark, key) or (watermark, start key, end key). The exact values stay in
            # memory (a driver's temporal value may be finer than Python's); the checkpoint holds their Python
            # form, and only up to the last entity behind the horizon.
            moved = False
            for row in rows:
                if self._version(row[-1]) is None:
                    continue
                at = [row[-1], row[0]] if rel is None else [row[-1], row[0], row[1]]
                if not _stamped_in_time(row[-1], self._reader, horizon):
                    position.safe = at
                position.cursor = at
                moved = True
            if changes or rejected:
                token = None if position.safe is None else (entity, [self._reader.native(v) for v in position.safe])
                return Batch(changes=changes, rejected=rejected, token=token)
            if not moved:
                # Only refused watermarks are left after the position (they order after every timestamp).
                return Batch(changes=[])

    def _version(self, watermark: Any) -> int | None:
        """The version a watermark gives; None for a value that is no timestamp or integer."""
        try:
            return version_of(self._reader.native(watermark))
        except ValueError:
            return None

    def _by_watermark(self, rel: RelationshipMapping | None, entity: str) -> tuple[dict[str, str], LiteralString]:
        """The slots and template of the watermark scan of one entity type."""
        if rel is None:
            slots = {**sides.node_slots(self._mappings.node(entity), target=False), "watermark": self._watermark}
            return slots, queries.NODES_BY_WATERMARK
        slots = {**sides.relationship_slots(self._mappings, rel, target=False), "watermark": self._watermark}
        return slots, queries.RELATIONSHIPS_BY_WATERMARK

    def _nulls(self, rel: RelationshipMapping | None, entity: str) -> list[Rejection]:
        """Entities without the watermark have no place in the scan: refused, so the dead letters name them."""
        slots, template = self._by_watermark(rel, entity)
        condition = queries.WATERMARK_NULL if rel is None else queries.REL_WATERMARK_NULL
        rows = fetch(self._reader, sides.query(template, slots, condition), {"limit": NULLS_REPORTED})
        reason = f"{self._watermark} is not set: the entity has no place in the scan and is not synced until it has"
        return [Rejection(self._change(rel, entity, row), reason) for row in rows]

    def _rows(
        self, rel: RelationshipMapping | None, entity: str, after: list[Any] | None, limit: int
    ) -> list[list[Any]]:
        """The next page after `after`: [watermark, key...] (exclusive), [watermark] (inclusive), or None (all)."""
        low, low_key, low_end = (after or []) + [None] * (3 - len(after or []))
        params = {"low": low, "low_key": low_key, "low_end": low_end, "limit": limit}
        node = rel is None
        slots, template = self._by_watermark(rel, entity)
        if after is not None and len(after) > 1:
            rest = queries.WATERMARK_REST if node else queries.REL_WATERMARK_REST
            rows = fetch(self._reader, sides.query(template, slots, rest), params)
            if rows:
                return rows
        if after is None:
            condition = queries.WATERMARK_SET if node else queries.REL_WATERMARK_SET
        elif len(after) > 1:
            condition = queries.WATERMARK_ABOVE if node else queries.REL_WATERMARK_ABOVE
        else:
            condition = queries.WATERMARK_FROM if node else queries.REL_WATERMARK_FROM
        return fetch(self._reader, sides.query(template, slots, condition), params)

    def _change(self, rel: RelationshipMapping | None, entity: str, row: list[Any]) -> Change:
        if rel is None:
            return node_change(self._mappings.node(entity), row[1], 0)
        return relationship_change(rel, row[0], row[1], row[2], 0)

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        if batch.token is not None:
            entity, last = batch.token
            self._checkpoints.put(f"watermark:{entity}", last)

    def close(self) -> None:
        self._reader.close()
        self._target.close()


def _stamped_in_time(value: Any, reader: GraphReader, horizon: float) -> bool:
    """Whether a watermark lies ahead of the horizon (microseconds); an integer watermark never does (its
    scan only moves forward, so every write must move it)."""
    native = reader.native(value)
    if isinstance(native, datetime | date):
        return version_of(native) >= horizon
    return False


def highest_watermarks(reader: GraphReader, mappings: Mappings, watermark: str) -> dict[str, Any]:
    """Per entity, the highest watermark now in the source: where increments after a snapshot start."""
    found = {}
    for node in mappings.nodes:
        slots = {**sides.node_slots(node, target=False), "watermark": watermark}
        found[node.name] = fetch(reader, cypher.render(queries.MAX_NODE_WATERMARK, **slots))[0][0]
    for rel in mappings.relationships:
        slots = {**sides.relationship_slots(mappings, rel, target=False), "watermark": watermark}
        found[rel.name] = fetch(reader, cypher.render(queries.MAX_REL_WATERMARK, **slots))[0][0]
    return {entity: [reader.native(value)] for entity, value in found.items() if value is not None}


def _versioned(changes: list[Change], versions: Versions) -> tuple[list[Change], list[Rejection]]:
    good: list[Change] = []
    rejected: list[Rejection] = []
    for change in changes:
        try:
            good.append(dataclasses.replace(change, version=versions.of(change.data)))
        except ValueError as exc:
            rejected.append(Rejection(change, f"{versions.watermark}: {exc}"))
    return good, rejected


class GraphDifferentialSource:
    """Compares source and target chunk by chunk and hands over only the repairs; finite.

    Nothing to checkpoint: a comparison interrupted midway simply starts over,
    and chunks already repaired then compare equal.
    """

    def __init__(
        self,
        reader: GraphReader,
        target: GraphReader,
        mappings: Mappings,
        *,
        versions: Versions,
        content: bool = True,
        form: Form = PLAIN,
    ) -> None:
        self._reader = reader
        self._target = target
        self._mappings = mappings
        self._versions = versions
        self._content = content
        self._form = form
        self._chunks: Iterator[list[Change]] | None = None

    def prepare(self) -> None:
        self._chunks = differential.differences(
            self._reader, self._target, self._mappings, versions=self._versions, content=self._content, form=self._form
        )

    def read(self, limit: int) -> Batch:
        if self._chunks is None:
            raise RuntimeError("prepare() was not called")
        for chunk in self._chunks:
            if chunk:
                return Batch(changes=chunk, token=len(chunk))
        return Batch(changes=[], final=True)

    def commit(self, batch: Batch, failed: Sequence[Rejection]) -> None:
        """Repairs are idempotent; there is no position to keep."""

    def close(self) -> None:
        self._reader.close()
        self._target.close()
