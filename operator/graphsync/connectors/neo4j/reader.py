"""Reading a Neo4j graph (as a source, or a target to compare with) in auto-commit read transactions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, LiteralString

import neo4j
import neo4j.time


class Neo4jReader:
    def __init__(self, driver: neo4j.Driver, *, database: str | None = None) -> None:
        self._driver = driver
        self._database = database

    def read(self, query: LiteralString, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """Rows with Neo4j's temporal values as Python's, wherever Python's hold them exactly."""
        records, _, _ = self._driver.execute_query(
            query, dict(params or {}), database_=self._database, routing_=neo4j.RoutingControl.READ
        )
        return [[_portable(value) for value in record.values()] for record in records]

    def write(self, query: LiteralString, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
        """For the engine's own records (the audit of reconciliation runs), never for synced data."""
        records, _, _ = self._driver.execute_query(query, dict(params or {}), database_=self._database)
        return [list(record.values()) for record in records]

    def native(self, value: Any) -> Any:
        return _portable(value)

    def close(self) -> None:
        self._driver.close()


_TEMPORAL = (neo4j.time.Date, neo4j.time.DateTime, neo4j.time.Time)


def _portable(value: Any) -> Any:
    """Neo4j's temporal types as Python's (`date`, `datetime`, `time`, with or without a zone).

    Python keeps microseconds: a value with finer nanoseconds stays Neo4j's own
    type, which no sink accepts, so it is refused rather than rounded.
    """
    if isinstance(value, dict):
        return {name: _portable(item) for name, item in value.items()} if _any_temporal(value.values()) else value
    if isinstance(value, list):
        return [_portable(item) for item in value] if _any_temporal(value) else value
    if isinstance(value, _TEMPORAL) and getattr(value, "nanosecond", 0) % 1000 == 0:
        return value.to_native()
    return value


def _any_temporal(values: Iterable[Any]) -> bool:
    return any(isinstance(v, (*_TEMPORAL, dict, list)) for v in values)
