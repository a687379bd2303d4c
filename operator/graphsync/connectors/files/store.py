"""Where documents are written: a Neo4j database or a FalkorDB graph, with the same statements."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, LiteralString, Protocol

import neo4j

from graphsync.connectors import cypher
from graphsync.connectors.falkordb import params
from graphsync.connectors.falkordb import sink as falkor_sink
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.files import queries
from graphsync.connectors.files.contribution import Stored
from graphsync.connectors.files.statements import Layout, Statement
from graphsync.connectors.neo4j import sink as neo4j_sink


class DocumentStore(Protocol):
    def prepare(self) -> None: ...
    def read(self, ids: Sequence[str]) -> dict[str, Stored]: ...
    def labels(self, keys: Sequence[str]) -> dict[str, list[str]]: ...
    def write(self, statements: Sequence[Statement]) -> None: ...
    def page(self, prefix: str, after: str, limit: int) -> list[str]: ...
    def failures(self, prefix: str, limit: int) -> list[tuple[str, str]]: ...
    def checkpoint(self, name: str) -> str | None: ...
    def take_lease(self, name: str, holder: str, seconds: float) -> str | None:
        """Take (or renew) the writer lease `name` for `seconds`; returns who holds it now."""
        ...

    def release_lease(self, name: str, holder: str) -> None: ...
    def save_checkpoint(self, name: str, value: str) -> None: ...
    def is_transient(self, error: BaseException) -> bool: ...
    def close(self) -> None: ...


def _stored(row: Sequence[Any]) -> tuple[str, Stored]:
    doc_id, file_hash, merkle, nodes, edges, error = row
    return doc_id, Stored(file_hash, merkle, nodes or (), edges or (), error)


class Neo4jDocuments:
    """One transaction per document: a crash leaves a document wholly before or wholly after its write."""

    def __init__(self, driver: neo4j.Driver, layout: Layout, *, database: str | None = None) -> None:
        self._driver = driver
        self._layout = layout
        self._database = database

    def _session(self) -> neo4j.Session:
        # Off: until a document fails, Neo4j warns on every read that the `error` property key does not exist.
        return self._driver.session(database=self._database, notifications_min_severity="OFF")

    def prepare(self) -> None:
        node = cypher.render(
            queries.NEO4J_NODE_CONSTRAINT,
            name=cypher.quote(f"graphsync_{self._layout.label}_{self._layout.key}"),
            **self._layout.slots(),
        )
        self._write_each([(queries.NEO4J_DOCUMENT_CONSTRAINT, {}), (queries.NEO4J_LEASE_CONSTRAINT, {}), (node, {})])

    def read(self, ids: Sequence[str]) -> dict[str, Stored]:
        rows = self._read(queries.READ_DOCUMENTS, ids=list(ids))
        return dict(_stored(row) for row in rows)

    def labels(self, keys: Sequence[str]) -> dict[str, list[str]]:
        query = cypher.render(queries.CURRENT_LABELS, **self._layout.slots())
        return dict(self._read(query, keys=list(keys)))

    def write(self, statements: Sequence[Statement]) -> None:
        with self._session() as session:
            session.execute_write(_run_all, statements)

    def page(self, prefix: str, after: str, limit: int) -> list[str]:
        return [row[0] for row in self._read(queries.LIST_DOCUMENTS, prefix=prefix, after=after, limit=limit)]

    def failures(self, prefix: str, limit: int) -> list[tuple[str, str]]:
        return [(row[0], row[1]) for row in self._read(queries.FAILED_DOCUMENTS, prefix=prefix, limit=limit)]

    def checkpoint(self, name: str) -> str | None:
        rows = self._read(queries.READ_CHECKPOINT, id=name)
        return str(rows[0][0]) if rows else None

    def save_checkpoint(self, name: str, value: str) -> None:
        self.write([(queries.SAVE_CHECKPOINT, {"id": name, "value": value})])

    def take_lease(self, name: str, holder: str, seconds: float) -> str | None:
        params = {"id": name, "holder": holder, "now": time.time(), "seconds": seconds}
        with self._session() as session:
            [[held]] = session.execute_write(_values, queries.TAKE_LEASE, params)
        return None if held is None else str(held)

    def release_lease(self, name: str, holder: str) -> None:
        self.write([(queries.RELEASE_LEASE, {"id": name, "holder": holder})])

    def is_transient(self, error: BaseException) -> bool:
        return neo4j_sink.transient(error)

    def close(self) -> None:
        self._driver.close()

    def _read(self, query: LiteralString, **parameters: Any) -> list[list[Any]]:
        with self._session() as session:
            return session.execute_read(_values, query, parameters)

    def _write_each(self, statements: Sequence[Statement]) -> None:
        with self._session() as session:
            for query, parameters in statements:
                session.run(query, parameters).consume()


def _run_all(tx: neo4j.ManagedTransaction, statements: Sequence[Statement]) -> None:
    for query, parameters in statements:
        tx.run(query, parameters).consume()


def _values(tx: neo4j.ManagedTransaction, query: LiteralString, parameters: dict[str, Any]) -> list[list[Any]]:
    return [list(record.values()) for record in tx.run(query, parameters)]


class FalkorDocuments:
    """One MULTI/EXEC per document; FalkorDB runs one writer at a time, so each statement is atomic too."""

    def __init__(self, graph: Graph, layout: Layout) -> None:
        self._graph = graph
        self._layout = layout

    def prepare(self) -> None:
        self._graph.ensure_index(queries.FALKOR_DOCUMENT_INDEX)
        self._graph.ensure_index(queries.FALKOR_LEASE_INDEX)
        self._graph.ensure_index(cypher.render(queries.FALKOR_NODE_INDEX, **self._layout.slots()))

    def read(self, ids: Sequence[str]) -> dict[str, Stored]:
        return dict(_stored(row) for row in self._graph.read(queries.READ_DOCUMENTS, {"ids": list(ids)}))

    def labels(self, keys: Sequence[str]) -> dict[str, list[str]]:
        query = cypher.render(queries.CURRENT_LABELS, **self._layout.slots())
        return dict(self._graph.read(query, {"keys": list(keys)}))

    def write(self, statements: Sequence[Statement]) -> None:
        self._graph.transaction([(params.header(p) if p else "") + query for query, p in statements])

    def page(self, prefix: str, after: str, limit: int) -> list[str]:
        rows = self._graph.read(queries.LIST_DOCUMENTS, {"prefix": prefix, "after": after, "limit": limit})
        return [row[0] for row in rows]

    def failures(self, prefix: str, limit: int) -> list[tuple[str, str]]:
        rows = self._graph.read(queries.FAILED_DOCUMENTS, {"prefix": prefix, "limit": limit})
        return [(row[0], row[1]) for row in rows]

    def checkpoint(self, name: str) -> str | None:
        rows = self._graph.read(queries.READ_CHECKPOINT, {"id": name})
        return str(rows[0][0]) if rows else None

    def save_checkpoint(self, name: str, value: str) -> None:
        self.write([(queries.SAVE_CHECKPOINT, {"id": name, "value": value})])

    def take_lease(self, name: str, holder: str, seconds: float) -> str | None:
        params = {"id": name, "holder": holder, "now": time.time(), "seconds": seconds}
        [[held]] = self._graph.write(queries.TAKE_LEASE, params)
        return None if held is None else str(held)

    def release_lease(self, name: str, holder: str) -> None:
        self.write([(queries.RELEASE_LEASE, {"id": name, "holder": holder})])

    def is_transient(self, error: BaseException) -> bool:
        return falkor_sink.transient(error)

    def close(self) -> None:
        self._graph.close()
