"""The Neo4j sink: batched, version-guarded upserts and tombstone deletes in one transaction per batch."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, LiteralString

import neo4j

from graphsync.change import ApplyResult, Change
from graphsync.connectors import cypher, stale
from graphsync.connectors.neo4j import queries
from graphsync.connectors.rows import NodeRows, Plan, RelationshipRows, plan
from graphsync.connectors.slots import (
    digest_set,
    foreign_key_slots,
    keyed_by_ends,
    newer,
    past_tombstone,
    relationship_slots,
)
from graphsync.spec.mapping import Mappings, NodeMapping


class Neo4jSink:
    """Applies batches of changes to Neo4j; safe to call again with the same batch."""

    def __init__(
        self, driver: neo4j.Driver, mappings: Mappings, *, database: str | None = None, ties: bool = False
    ) -> None:
        self._driver = driver
        self._mappings = mappings
        self._database = database
        self._ties = ties

    def prepare(self) -> None:
        """Create the uniqueness constraints MERGE relies on for speed and for locking."""
        statements: list[LiteralString] = [queries.TOMBSTONE_CONSTRAINT, queries.TOMBSTONE_AGE_INDEX]
        for mapping in self._mappings.nodes:
            statements.append(
                cypher.render(
                    queries.CONSTRAINT,
                    name=cypher.quote(f"graphsync_{mapping.labels[0]}_{mapping.target_key}"),
                    label=cypher.labels([mapping.labels[0]]),
                    key=cypher.quote(mapping.target_key),
                )
            )
        for rel in self._mappings.relationships:
            statements.append(
                cypher.render(
                    queries.REL_INDEX, name=cypher.quote(f"graphsync_rel_{rel.type}"), type=cypher.labels([rel.type])
                )
            )
        with self._driver.session(database=self._database) as session:
            for statement in statements:
                session.run(statement).consume()

    def is_transient(self, error: BaseException) -> bool:
        return transient(error)

    def ping(self) -> None:
        with self._driver.session(database=self._database) as session:
            session.run(queries.PING).consume()

    def canary(self) -> None:
        with self._driver.session(database=self._database) as session:
            session.execute_write(lambda tx: tx.run(queries.CANARY).consume())

    def close(self) -> None:
        self._driver.close()

    def stage(self, changes: Sequence[Change]) -> Plan:
        return plan(changes, self._mappings, digests=self._ties)

    def apply(self, changes: Sequence[Change], staged: Any = None) -> ApplyResult:
        batch = staged if isinstance(staged, Plan) else plan(changes, self._mappings, digests=self._ties)
        with self._driver.session(database=self._database) as session:
            return session.execute_write(self._write, batch)

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
        with self._driver.session(database=self._database) as session:
            return stale.sweep(
                self._mappings,
                asked,
                lambda query, params: session.execute_read(_rows, query, params),
                lambda plan_, _: session.execute_write(self._write, plan_),
            )

    def _write(self, tx: neo4j.ManagedTransaction, batch: Plan) -> ApplyResult:
        result = ApplyResult()
        for node_rows in batch.nodes:
            result += self._write_nodes(tx, node_rows)
        for rel_rows in batch.relationships:
            result += self._write_relationships(tx, rel_rows)
        return result

    def _write_nodes(self, tx: neo4j.ManagedTransaction, rows: NodeRows) -> ApplyResult:
        mapping = rows.mapping
        slots = _node_slots(mapping)
        result = ApplyResult()
        # Possibly left as bare placeholders: stale upserts (MERGE created them) and deletes.
        maybe_orphans: list[Any] = []
        if rows.upserts:
            record = _single(tx.run(self._upsert_query(mapping), rows=rows.upserts))
            result += ApplyResult(created=record["created"], updated=record["updated"])
            if record["created"] + record["updated"] < len(rows.upserts):
                # Some were stale; MERGE may have left bare placeholders for them. Applied rows
                # carry a version, so offering every key to the orphan check is safe.
                maybe_orphans += [r["key"] for r in rows.upserts]
            for i, fk in enumerate(mapping.foreign_keys):
                self._drop_orphans(tx, self._mappings.node(fk.references), record[f"former_{i}"])
        if rows.deletes:
            record = _single(tx.run(cypher.render(queries.DELETE_NODES, **slots), rows=rows.deletes))
            result += ApplyResult(deleted=record["deleted"])
            applied = set(record["applied"])
            self._drop_foreign_keys(tx, mapping, [r for r in rows.deletes if r["key"] in applied])
            maybe_orphans += [r["key"] for r in rows.deletes]
        stale = len(rows.upserts) + len(rows.deletes) - result.created - result.updated - result.deleted
        self._drop_orphans(tx, mapping, maybe_orphans)
        return result + ApplyResult(stale=max(stale, 0))

    def _upsert_query(self, mapping: NodeMapping) -> LiteralString:
        fragments = []
        for i, fk in enumerate(mapping.foreign_keys):
            slots = foreign_key_slots(self._mappings, fk)
            fragments.append(
                cypher.render(queries.FOREIGN_KEY, **slots, column=cypher.quote(fk.column), former=f"former_{i}")
            )
        # Flattened in the query: most batches replace nothing, and an empty list costs nothing to send.
        former = "".join(
            f", reduce(acc = [], f IN collect(former_{i}) | acc + f) AS former_{i}"
            for i in range(len(mapping.foreign_keys))
        )
        return cypher.render(
            queries.UPSERT_NODES,
            **_node_slots(mapping),
            foreign_keys="".join(fragments),
            former=former,
            newer=newer(self._ties),
            past_tombstone=past_tombstone(self._ties),
            digest=digest_set(self._ties, "n"),
        )

    def _drop_foreign_keys(
        self, tx: neo4j.ManagedTransaction, mapping: NodeMapping, rows: list[dict[str, Any]]
    ) -> None:
        """Remove the relationships deleted nodes owned, and the placeholders that leaves pointless."""
        if not rows:
            return
        keys = [r["key"] for r in rows]
        for fk in mapping.foreign_keys:
            target = self._mappings.node(fk.references)
            slots = {**_node_slots(mapping), **foreign_key_slots(self._mappings, fk)}
            former = _single(tx.run(cypher.render(queries.DROP_FOREIGN_KEY, **slots), keys=keys))["former"]
            self._drop_orphans(tx, target, former)

    def _write_relationships(self, tx: neo4j.ManagedTransaction, rows: RelationshipRows) -> ApplyResult:
        mapping = rows.mapping
        slots = relationship_slots(self._mappings, mapping)
        old = queries.OLD_BY_ENDS if keyed_by_ends(mapping) else queries.OLD_BY_KEY
        slots["old"] = cypher.render(old, **slots)
        result = ApplyResult()
        if rows.upserts:
            query = cypher.render(
                queries.UPSERT_RELATIONSHIPS,
                **slots,
                newer=newer(self._ties, relationship=True),
                past_tombstone=past_tombstone(self._ties),
                digest=digest_set(self._ties, "r"),
            )
            record = _single(tx.run(query, rows=rows.upserts))
            result += ApplyResult(created=record["created"], updated=record["updated"])
        if rows.deletes:
            record = _single(tx.run(cypher.render(queries.DELETE_RELATIONSHIPS, **slots), rows=rows.deletes))
            result += ApplyResult(deleted=record["deleted"])
        touched = rows.upserts + rows.deletes
        self._drop_orphans(tx, self._mappings.node(mapping.source.references), [r["source"] for r in touched])
        self._drop_orphans(tx, self._mappings.node(mapping.target.references), [r["target"] for r in touched])
        stale = len(touched) - result.created - result.updated - result.deleted
        return result + ApplyResult(stale=max(stale, 0))

    def _drop_orphans(self, tx: neo4j.ManagedTransaction, mapping: NodeMapping, keys: list[Any]) -> None:
        if keys:
            tx.run(cypher.render(queries.DROP_ORPHANS, **_node_slots(mapping)), keys=keys).consume()


# Client errors the driver does not retry that no record is to blame for: the whole database refuses writes
# (read-only, gone, a rotated password or revoked role) or was too slow; the batch waits instead of
# being dead-lettered.
_WHOLE_DATABASE = frozenset(
    {
        "Neo.ClientError.General.ForbiddenOnReadOnlyDatabase",
        "Neo.ClientError.Database.DatabaseNotFound",
        "Neo.ClientError.Security.Unauthorized",
        "Neo.ClientError.Security.Forbidden",
        "Neo.ClientError.Security.AuthenticationRateLimit",
        "Neo.ClientError.Security.CredentialsExpired",
        "Neo.ClientError.Security.TokenExpired",
        "Neo.ClientError.Transaction.TransactionTimedOut",
        "Neo.ClientError.Transaction.TransactionTimedOutClientConfiguration",
    }
)


def transient(error: BaseException) -> bool:
    """Outages, lock conflicts and whole-database refusals pass; a bad record does not (it is dead-lettered)."""
    if isinstance(error, neo4j.exceptions.IncompleteCommit | neo4j.exceptions.ConnectionPoolError):
        # Outages the driver does not retry. The connection dropped during COMMIT (a restart, a failover): it
        # cannot tell whether the commit landed, but the engine's writes are idempotent (versions decide), so
        # writing again is safe. No connection within the pool's deadline (a server slow to come back).
        return True
    if isinstance(error, neo4j.exceptions.Neo4jError):
        return error.is_retryable() or error.code in _WHOLE_DATABASE
    if isinstance(error, neo4j.exceptions.DriverError):
        return error.is_retryable()
    return isinstance(error, ConnectionError | OSError)


def _node_slots(mapping: NodeMapping) -> dict[str, str]:
    extra = mapping.labels[1:]
    return {
        "label": cypher.labels([mapping.labels[0]]),
        "key": cypher.quote(mapping.target_key),
        "extra_labels": f", n{cypher.labels(list(extra))}" if extra else "",
        "strip_labels": f"REMOVE n{cypher.labels(list(extra))}" if extra else "",
    }


def _rows(tx: neo4j.ManagedTransaction, query: LiteralString, params: dict[str, Any]) -> list[list[Any]]:
    return [record.values() for record in tx.run(query, params)]


def _single(result: neo4j.Result) -> neo4j.Record:
    return result.single(strict=True)
