"""What graph sources and the comparison share: the reader contract and turning graph rows into changes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, LiteralString, Protocol

from graphsync.change import Change, Operation, version_of
from graphsync.connectors.graphs import queries, sides
from graphsync.spec.mapping import NodeMapping, RelationshipMapping


class GraphReader(Protocol):
    def read(self, query: LiteralString, params: Mapping[str, Any] | None = None) -> list[list[Any]]: ...
    def native(self, value: Any) -> Any:
        """A driver's own temporal value as the Python one (`datetime`, `date`); other values unchanged."""
        ...

    def close(self) -> None: ...


def fetch(reader: GraphReader, query: LiteralString, params: Mapping[str, Any] | None = None) -> list[list[Any]]:
    """The rows of one of the `queries` templates, which return them collected into one list."""
    [[rows]] = reader.read(query, params)
    return list(rows)


@dataclass(frozen=True)
class Versions:
    """The version of an entity read from a graph: its watermark when the pipeline has one, else `fallback`.

    Every mode derives versions the same way, so a snapshot, a differential repair
    and the incremental changes after them compare on one scale.
    """

    watermark: str | None
    fallback: int
    native: Callable[[Any], Any] = lambda value: value

    def of(self, props: Mapping[str, Any]) -> int:
        """Raises ValueError for a watermark value that is no timestamp or integer."""
        value = props.get(self.watermark) if self.watermark else None
        return self.fallback if value is None else version_of(self.native(value))


def node_change(mapping: NodeMapping, props: Mapping[str, Any], version: int) -> Change:
    return Change(entity=mapping.name, key=props.get(mapping.key), op=Operation.UPSERT, version=version, data=props)


def relationship_change(
    mapping: RelationshipMapping, source: Any, target: Any, props: Mapping[str, Any], version: int
) -> Change:
    data = {**props, mapping.source.column: source, mapping.target.column: target}
    key = [data.get(column) for column in mapping.key]
    return Change(
        entity=mapping.name, key=key[0] if len(key) == 1 else key, op=Operation.UPSERT, version=version, data=data
    )


def start_keys(reader: GraphReader, mapping: NodeMapping, after: Any, limit: int, *, target: bool = False) -> list[Any]:
    slots = sides.node_slots(mapping, target=target)
    conditions = sides.key_range(after is not None, False) + ((queries.SYNCED,) if target else ())
    return [
        row[0] for row in fetch(reader, sides.query(queries.KEYS, slots, *conditions), {"low": after, "limit": limit})
    ]
