"""The FalkorDB sink: the same version-guarded upserts and tombstones as the Neo4j sink, one MULTI/EXEC per batch."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString

import redis

from graphsync.change import ApplyResult, Change
from graphsync.connectors import cypher, stale
from graphsync.connectors.falkordb import params, queries, temporal
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.rows import PLAIN, Form, MappingError, Plan, plan
from graphsync.connectors.slots import (
    digest_set,
    foreign_key_slots,
    keyed_by_ends,
    newer,
    past_tombstone,
    relationship_slots,
)
from graphsync.spec.mapping import Mappings, NodeMapping


@dataclass(frozen=True)
class Statement:
    """One query of a batch, parameters included, and which counters its single result row holds."""

    text: str
    counters: tuple[str, ...] = ()


class FalkorSink:
    """Applies batches of changes to one FalkorDB graph; safe to call again with the same batch."""

    def __init__(self, graph: Graph, mappings: Mappings, *, ties: bool = False, form: Form = PLAIN) -> None:
        self._graph = graph
        self._mappings = mappings
        self._ties = ties
        self._form = form
        self._templates = _Templates(mappings, ties)

    def prepare(self) -> None:
        """Indexes on every key MERGE looks up: without them each lookup scans its label."""
        statements: list[str] = [queries.TOMBSTONE_INDEX, queries.TOMBSTONE_AGE_INDEX]
        for mapping in self._mappings.nodes:
            statements.append(
                cypher.render(
                    queries.NODE_INDEX,
                    label=cypher.labels([mapping.labels[0]]),
                    key=cypher.quote(mapping.target_key),
                )
            )
        for rel in self._mappings.relationships:
            statements.append(cypher.render(queries.REL_INDEX, type=cypher.labels([rel.type])))
        for statement in statements:
            self._graph.ensure_index(statement)

    def is_transient(self, error: BaseException) -> bool:
        return transient(error)

    def ping(self) -> None:
        self._graph.read(queries.PING)

    def canary(self) -> None:
        self._graph.write(queries.CANARY)

    def close(self) -> None:
        self._graph.close()

    def stage(self, changes: Sequence[Change]) -> list[Statement]:
        return self._statements(plan(changes, self._mappings, digests=self._ties, form=self._form))

    def apply(self, changes: Sequence[Change], staged: Any = None) -> ApplyResult:
        statements = staged if isinstance(staged, list) else self.stage(changes)
        return self._run(statements, len(changes))

    def sweep(
        self,
        *,
        below_version: int,
        chunk: int = 5000,
        entities: Collection[str] | None = None,
        keep: Mapping[str, Sequence[Any]] | None = None,
    ) -> ApplyResult:
        """Delete (with tombstones at `below_version`) every entity a full snapshot at that version did not see
        (see `connectors.stale`)."""
        asked = stale.Sweep(below_version, chunk, entities, keep)
        return stale.sweep(
            self._mappings, asked, self._graph.read, lambda plan_, n: self._run(self._statements(plan_), n)
        )

    def switch_into(self, name: str) -> None:
        """Make this (fully built) graph the one called `name`, atomically: readers see the old graph or the new."""
        self._graph.rename(name)

    def exists(self) -> bool:
        """Whether the graph is there at all (preparing a sink creates it, with its indexes)."""
        return bool(self._graph.client.exists(self._graph.name))

    def drop_graph(self) -> None:
        self._graph.drop()

    def _run(self, statements: list[Statement], offered: int) -> ApplyResult:
        counts: dict[str, int] = {"created": 0, "updated": 0, "deleted": 0}
        for statement, row in zip(statements, self._graph.transaction([s.text for s in statements]), strict=True):
            for name, value in zip(statement.counters, row, strict=True):
                counts[name] += int(value)
        applied = counts["created"] + counts["updated"] + counts["deleted"]
        return ApplyResult(**counts, stale=max(offered - applied, 0))

    def _statements(self, batch: Plan) -> list[Statement]:
        statements: list[Statement] = []
        for node_rows in batch.nodes:
            if node_rows.upserts:
                rows, temporal_slots = _split(node_rows.upserts)
                text = self._templates.upsert_nodes(node_rows.mapping, temporal_slots)
                statements.append(Statement(_with_rows(rows, text), ("updated", "created")))
            if node_rows.deletes:
                text = self._templates.delete_nodes(node_rows.mapping)
                statements.append(Statement(_with_rows(node_rows.deletes, text), ("deleted",)))
        for rel_rows in batch.relationships:
            slots = relationship_slots(self._mappings, rel_rows.mapping)
            old = queries.OLD_BY_ENDS if keyed_by_ends(rel_rows.mapping) else queries.OLD_BY_KEY
            slots["old"] = cypher.render(old, **slots)
            if rel_rows.upserts:
                rows, temporal_slots = _split(rel_rows.upserts)
                text = cypher.render(
                    queries.UPSERT_RELATIONSHIPS,
                    **slots,
                    temporal=_temporal_sets("r", temporal_slots),
                    newer=newer(self._ties, relationship=True),
                    past_tombstone=past_tombstone(self._ties),
                    digest=digest_set(self._ties, "r"),
                )
                statements.append(Statement(_with_rows(rows, text), ("updated", "created")))
            if rel_rows.deletes:
                text = cypher.render(queries.DELETE_RELATIONSHIPS, **slots)
                statements.append(Statement(_with_rows(rel_rows.deletes, text), ("deleted",)))
        if statements:
            statements += [Statement(queries.DROP_ORPHANS), Statement(queries.CLEAR_MARKS)]
        return statements


# Refusals of every write, whatever the record: a replica (READONLY), maxmemory reached (OOM), a failed
# background save (MISCONF), a replica cut off from its primary (MASTERDOWN), a user lacking the command (NOPERM).
_WHOLE_SERVER = (
    redis.exceptions.ReadOnlyError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.NoPermissionError,
    redis.exceptions.BusyLoadingError,
)
_WHOLE_SERVER_CODES = ("MISCONF", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")


def transient(error: BaseException) -> bool:
    """Outages and whole-server refusals pass; a query error is a bad record (it goes to the dead-letter store).
    A rotated password raises AuthenticationError, a ConnectionError."""
    if isinstance(error, (redis.ConnectionError, redis.TimeoutError, *_WHOLE_SERVER)):
        return True
    return isinstance(error, redis.ResponseError) and str(error).startswith(_WHOLE_SERVER_CODES)


class _Templates:
    """Query text per mapping (and temporal shape), rendered once."""

    def __init__(self, mappings: Mappings, ties: bool) -> None:
        self._mappings = mappings
        self._ties = ties
        self._upserts: dict[tuple[str, temporal.Slots], LiteralString] = {}
        self._deletes: dict[str, LiteralString] = {}

    def upsert_nodes(self, mapping: NodeMapping, temporal_slots: temporal.Slots) -> LiteralString:
        """The upsert for this mapping and this batch's temporal properties (few shapes, each rendered once)."""
        shape = (mapping.name, temporal_slots)
        if shape not in self._upserts:
            fragments = []
            for fk in mapping.foreign_keys:
                slots = foreign_key_slots(self._mappings, fk)
                fragments.append(cypher.render(queries.FOREIGN_KEY, **slots, column=cypher.quote(fk.column)))
            self._upserts[shape] = cypher.render(
                queries.UPSERT_NODES,
                **_node_slots(mapping),
                foreign_keys="".join(fragments),
                temporal=_temporal_sets("n", temporal_slots),
                newer=newer(self._ties),
                past_tombstone=past_tombstone(self._ties),
                digest=digest_set(self._ties, "n"),
            )
        return self._upserts[shape]

    def delete_nodes(self, mapping: NodeMapping) -> LiteralString:
        if mapping.name not in self._deletes:
            drops = "".join(
                cypher.render(queries.OWNED, **foreign_key_slots(self._mappings, fk)) for fk in mapping.foreign_keys
            )
            self._deletes[mapping.name] = cypher.render(queries.DELETE_NODES, **_node_slots(mapping), owned_drops=drops)
        return self._deletes[mapping.name]


def _node_slots(mapping: NodeMapping) -> dict[str, str]:
    extra = list(mapping.labels[1:])
    return {
        "label": cypher.labels([mapping.labels[0]]),
        "key": cypher.quote(mapping.target_key),
        "extra_labels": f", n{cypher.labels(extra)}" if extra else "",
        "strip_labels": cypher.render(queries.STRIP_LABELS, labels=cypher.labels(extra)) if extra else "",
    }


def _temporal_sets(var: str, slots: temporal.Slots) -> str:
    return "".join(
        cypher.render(queries.TEMPORAL, index=str(i), var=var, name=cypher.quote(name), function=function)
        for i, (name, function) in enumerate(slots)
    )


def _split(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], temporal.Slots]:
    try:
        return temporal.split(rows)
    except params.UnrepresentableValue:
        # Find the row at fault, to name its entity.
        for row in rows:
            try:
                temporal.split([row])
            except params.UnrepresentableValue as exc:
                raise MappingError(f"{row['tombstone']}: {exc}") from exc
        raise


def _with_rows(rows: list[dict[str, Any]], text: str) -> str:
    """The query with its rows as the `$rows` parameter; a value FalkorDB cannot hold names its entity."""
    encoded = []
    for row in rows:
        try:
            encoded.append(params.literal(row))
        except params.UnrepresentableValue as exc:
            raise MappingError(f"{row['tombstone']}: {exc}") from exc
    return f"CYPHER rows=[{','.join(encoded)}] {text}"
