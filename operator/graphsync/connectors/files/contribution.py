"""What one document contributes to the graph, and what changes when it changes: pure functions.

Every node and relationship carries a reference count, the number of documents that
contain it. A document's node keys and relationship keys are kept on its
`GraphsyncDocument` node, so replacing or removing a document only touches what it
added or dropped, and a Merkle hash over its entries makes an unchanged document cost
one comparison.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphsync.connectors.files.documents import Document, DocumentError, Edge, Node
from graphsync.spec import identifiers
from graphsync.spec.files import Identity
from graphsync.spec.identifiers import RESERVED_PREFIX


@dataclass(frozen=True)
class Contribution:
    nodes: dict[str, Node]
    edges: dict[str, Edge]
    merkle: str


@dataclass(frozen=True)
class Stored:
    """What the target holds for a document: its file hash, Merkle hash and entry keys."""

    hash: str | None
    merkle: str | None
    nodes: Sequence[str] = ()
    edges: Sequence[str] = ()
    error: str | None = None


@dataclass(frozen=True)
class Changes:
    """The writes that turn a document's stored contribution into its new one."""

    nodes: list[Node]
    added_nodes: frozenset[str]
    removed_nodes: list[str]
    edges: list[Edge]
    added_edges: frozenset[str]
    removed_edges: list[Edge]


NO_CHANGES = Changes([], frozenset(), [], [], frozenset(), [])


def digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def contribution(document: Document, *, identity: Identity, key_property: str) -> Contribution:
    """The entries of a document, keyed as `identity` says; a DocumentError names the item at fault."""
    nodes: dict[str, Node] = {}
    local: dict[str, str] = {}
    for i, node in enumerate(document.nodes):
        _check_properties(node.properties, f"nodes[{i}]", reserved=key_property)
        for label in node.labels:
            _check_identifier(label, f"nodes[{i}].labels")
        if node.id in local:
            raise DocumentError(f"nodes[{i}].id: {node.id!r} appears twice in this document")
        labels = tuple(sorted(set(node.labels)))
        key = node.id if identity is Identity.ID else digest([labels, dict(node.properties)])
        local[node.id] = key
        nodes[key] = Node(key, labels, node.properties)
    edges: dict[str, Edge] = {}
    for i, edge in enumerate(document.edges):
        _check_properties(edge.properties, f"edges[{i}]", reserved=None)
        _check_identifier(edge.type, f"edges[{i}].type")
        ends = [_endpoint(local, identity, edge.source, f"edges[{i}].from")]
        ends.append(_endpoint(local, identity, edge.target, f"edges[{i}].to"))
        entry = Edge(ends[0], ends[1], edge.type, edge.properties)
        known = edges.get(entry.key)
        if known is not None and known.properties != entry.properties:
            raise DocumentError(f"edges[{i}]: a second {edge.type} edge between the same nodes, with other properties")
        edges[entry.key] = entry
    merkle = digest(
        sorted(digest([n.id, n.labels, dict(n.properties)]) for n in nodes.values())
        + sorted(digest([e.key, dict(e.properties)]) for e in edges.values())
    )
    return Contribution(nodes, edges, merkle)


def _check_properties(properties: Mapping[str, Any], where: str, *, reserved: str | None) -> None:
    """What every target stores: scalars, and lists of one scalar type; checked before anything is written,
    since any parser (not only the JSON one) can produce a document."""
    for name, value in properties.items():
        if not isinstance(name, str) or not name:
            raise DocumentError(f"{where}.properties: {name!r} is not a property name")
        if name == reserved or name.lower().startswith(RESERVED_PREFIX):
            raise DocumentError(f"{where}.properties.{name}: the name is reserved for graphsync's key or state")
        items = value if isinstance(value, list) else [value]
        kinds = {type(item) for item in items}
        if not kinds <= _SCALARS or len(kinds) > 1 or (isinstance(value, list) and any(type(i) is list for i in items)):
            raise DocumentError(
                f"{where}.properties.{name}: {type(value).__name__} values cannot be stored; "
                "use a string, number, boolean, or a list of one of those"
            )
        if any(isinstance(item, float) and not math.isfinite(item) for item in items):
            raise DocumentError(f"{where}.properties.{name}: {value!r} is not a finite number")


def _check_identifier(name: str, where: str) -> None:
    try:
        identifiers.check(name)
    except ValueError as exc:
        raise DocumentError(f"{where}: {exc}") from None


_SCALARS = frozenset((str, int, float, bool))


def _endpoint(local: Mapping[str, str], identity: Identity, node_id: str, where: str) -> str:
    if node_id in local:
        return local[node_id]
    if identity is Identity.CONTENT:
        raise DocumentError(f"{where}: {node_id!r} is not a node of this document (content identity links within one)")
    # By id, a document may link to a node another document defines.
    return node_id


def changes(stored: Stored, new: Contribution, *, identity: Identity, rewrite: bool = False) -> Changes:
    """Writes from `stored` to `new`. By content a kept key is the same content, so only additions are
    written, unless `rewrite` (the target's copy may have drifted: a reconciliation asked for it)."""
    old_nodes, old_edges = set(stored.nodes), set(stored.edges)
    added_nodes = frozenset(new.nodes.keys() - old_nodes)
    write_nodes = new.nodes.keys() if identity is Identity.ID or rewrite else added_nodes
    return Changes(
        nodes=[new.nodes[k] for k in sorted(write_nodes)],
        added_nodes=added_nodes,
        removed_nodes=sorted(old_nodes - new.nodes.keys()),
        edges=[new.edges[k] for k in sorted(new.edges)],
        added_edges=frozenset(new.edges.keys() - old_edges),
        removed_edges=[Edge.from_key(k) for k in sorted(old_edges - new.edges.keys())],
    )


def removal(stored: Stored) -> Changes:
    """Writes that take a deleted document's whole contribution away."""
    return Changes(
        nodes=[],
        added_nodes=frozenset(),
        removed_nodes=sorted(stored.nodes),
        edges=[],
        added_edges=frozenset(),
        removed_edges=[Edge.from_key(k) for k in sorted(stored.edges)],
    )
