"""One FalkorDB graph: batched writes in MULTI/EXEC, typed reads through the official client."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import falkordb
import redis


class Graph:
    def __init__(self, db: falkordb.FalkorDB, name: str) -> None:
        self._db = db
        self.name = name
        self._graph = db.select_graph(name)

    @property
    def client(self) -> redis.Redis:
        connection: redis.Redis = self._db.connection
        return connection

    def transaction(self, queries: list[str]) -> list[list[Any]]:
        """Run queries (parameter headers included) atomically; each one's first result row, [] if none.

        Redis runs a MULTI/EXEC block without interleaving other commands, and a
        client that dies before EXEC leaves nothing applied.
        """
        pipe = self.client.pipeline(transaction=True)
        for query in queries:
            pipe.execute_command("GRAPH.QUERY", self.name, query)  # type: ignore[no-untyped-call]
        replies = pipe.execute(raise_on_error=False)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return [_first_row(reply) for reply in replies]

    def read(self, query: str, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """A read-only query's rows, values typed by the client, temporal ones as Python's."""
        result = self._graph.ro_query(query, dict(params) if params else None)
        return [[_portable(value) for value in row] for row in result.result_set]

    def native(self, value: Any) -> Any:
        return _portable(value)

    def write(self, query: str, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        rows: list[list[Any]] = self._graph.query(query, dict(params) if params else None).result_set
        return rows

    def ensure_index(self, statement: str) -> None:
        try:
            self._graph.query(statement)
        except redis.ResponseError as exc:
            if "already indexed" not in str(exc):
                raise

    def rename(self, name: str) -> None:
        """Replace the graph `name` by this one in one step (Redis RENAME is atomic)."""
        self.client.rename(self.name, name)

    def drop(self) -> None:
        if self.client.exists(self.name):
            self.client.execute_command("GRAPH.DELETE", self.name)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._db.connection.close()


def connect(url: str, graph: str, *, password: str | None = None, tls: Mapping[str, Any] | None = None) -> Graph:
    """`tls`: redis-py's ssl_* settings, for a rediss:// URL."""
    client = redis.Redis.from_url(url, password=password, decode_responses=True, socket_timeout=60, **(tls or {}))
    return Graph(falkordb.FalkorDB(connection_pool=client.connection_pool), graph)


def _first_row(reply: Any) -> list[Any]:
    # A GRAPH.QUERY reply is [header, rows, statistics], or [statistics] when nothing is returned.
    if isinstance(reply, list) and len(reply) == 3 and reply[1]:
        row: list[Any] = reply[1][0]
        return row
    return []


def _portable(value: Any) -> Any:
    """FalkorDB's `localdatetime` has no zone, though the client hands it over as UTC: drop the zone."""
    kind = type(value)
    if kind is datetime:
        return value.replace(tzinfo=None) if value.tzinfo is not None else value
    if kind is dict or kind is OrderedDict:
        return {name: _portable(item) for name, item in value.items()} if _nested(value.values()) else value
    if kind is list:
        return [_portable(item) for item in value] if _nested(value) else value
    return value


def _nested(values: Iterable[Any]) -> bool:
    return any(type(v) in _CONTAINERS for v in values)


# The client returns maps as OrderedDicts.
_CONTAINERS = frozenset((datetime, dict, OrderedDict, list))
