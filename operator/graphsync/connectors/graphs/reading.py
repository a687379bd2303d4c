"""What graph sources and the comparisons share: the reader contract, turning graph rows into changes, and
values in a form both sides of a comparison agree on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any, LiteralString, Protocol

from graphsync.change import Change, Operation, version_of
from graphsync.connectors.graphs import queries, sides
from graphsync.spec.mapping import Mappings, NodeMapping, RelationshipMapping


class GraphReader(Protocol):
    def read(self, query: LiteralString, params: Mapping[str, Any] | None = None) -> list[list[Any]]: ...
    def native(self, value: Any) -> Any:
        """A driver's own temporal value as the Python one (`datetime`, `date`); other values unchanged."""
        ...

    def close(self) -> None: ...


class Store(GraphReader, Protocol):
    """A graph the engine also writes its own records to."""

    def write(self, query: LiteralString, params: Mapping[str, Any] | None = None) -> list[list[Any]]: ...


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

    def or_fallback(self, props: Mapping[str, Any]) -> int:
        """For comparing: a bad watermark compares as the fallback; applying the entity refuses it with the reason."""
        try:
            return self.of(props)
        except ValueError:
            return self.fallback

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


def relationship_bound(
    reader: GraphReader, mappings: Mappings, mapping: RelationshipMapping, after: sides.Bound | None, size: int
) -> sides.Bound | None:
    """Where a page of at most `size` source relationships after `after` ends; None when the rest fits in one.

    A page spans `size` start nodes at most, and ends inside one start node's relationships when they are
    more than `size` (a super-node), which are then paged by their end node keys: no page holds more
    than `size`, whatever a node's degree.
    """
    keys = start_keys(reader, mappings.node(mapping.source.references), after[0] if after else None, size)
    high = (keys[-1], None) if len(keys) == size else None
    conditions, params = sides.relationship_range(after, high)
    slots = sides.relationship_slots(mappings, mapping, target=False)
    pairs = fetch(reader, sides.query(queries.REL_PAIRS, slots, *conditions), {**params, "limit": size})
    if len(pairs) == size:
        start, end = pairs[-1]
        return start, end
    return high


# Values that are their own canonical form; checked by exact type first, since every entity of a
# comparison passes through here (a million entities, two sides).
_PLAIN = frozenset((str, int, bool, type(None)))


def canonical(value: Any) -> Any:
    """A value as both sides can agree on it: doubles to the 15 digits FalkorDB returns (it stores them exactly),
    times as ISO text (aware ones in UTC)."""
    kind = type(value)
    if kind in _PLAIN or (kind is list and all(type(item) in _PLAIN for item in value)):
        return value
    if isinstance(value, float):
        return float(f"{value:.15g}")
    if isinstance(value, date | time):
        moment = value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo is not None else value
        return {type(value).__name__: moment.isoformat()}
    if isinstance(value, list | tuple):
        return [canonical(item) for item in value]
    if isinstance(value, Mapping):
        return {str(name): canonical(item) for name, item in value.items()}
    # Subclasses of plain types stand for themselves; the sink refuses anything else, and a digest of its
    # text still tells it apart.
    return value if isinstance(value, bool | int | str) else {"other": repr(value)}


def plain(content: Mapping[str, Any]) -> dict[str, Any]:
    """`canonical` of every value of a mapping (most are plain already: checked inline, it is a hot path)."""
    return {k: v if type(v) in _PLAIN else canonical(v) for k, v in content.items()}


def digest(content: Mapping[str, Any]) -> int:
    """An order-insensitive 64-bit digest of contents (driver values as their canonical form)."""
    text = json.dumps(plain(content), sort_keys=True, ensure_ascii=False)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def visible(props: Mapping[str, Any]) -> dict[str, Any]:
    """User properties only: the engine's own (`_graphsync_*`) are bookkeeping, not data."""
    return {name: value for name, value in props.items() if not name.startswith("_graphsync")}
