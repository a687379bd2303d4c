"""The statements of one document's write, as (query, parameters): pure, shared by both graph stores."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, TypeVar

from graphsync.connectors import cypher
from graphsync.connectors.files import queries
from graphsync.connectors.files.contribution import Changes, Contribution
from graphsync.connectors.files.documents import Edge, Node

Statement = tuple[LiteralString, dict[str, Any]]
K = TypeVar("K")


@dataclass(frozen=True)
class Layout:
    """Where document nodes live: every one has `label`, and is unique by `key`."""

    label: str
    key: str

    def slots(self) -> dict[str, str]:
        return {"label": cypher.labels([self.label]), "key": cypher.quote(self.key)}


@dataclass(frozen=True)
class Saved:
    """The document node written with a successful write."""

    id: str
    path: str
    hash: str
    commit: str | None
    synced_at: str


@dataclass(frozen=True)
class DocumentWrite:
    """One document's part of a batch: its changes, and its new contribution (None: the file was deleted)."""

    saved: Saved
    found: Changes
    contribution: Contribution | None


def write(
    layout: Layout,
    documents: Sequence[DocumentWrite],
    *,
    current_labels: Mapping[str, Sequence[str]],
    failures: Sequence[tuple[Saved, str]] = (),
) -> list[Statement]:
    """The statements that apply a batch of documents in one transaction.

    Entries several documents of the batch touch are merged first (counts summed,
    the last document's properties and labels kept): one query sees the graph as
    it was before it, so two rows for one entity would both read the old count.
    `current_labels` are the labels the target holds for the nodes written or
    removed, so labels a node lost are removed too (labels cannot be parameters).
    """
    slots = layout.slots()
    nodes, edges, released_nodes, released_edges = _merged(documents)
    out: list[Statement] = []
    for labels, rows in _grouped(
        (tuple(n.labels), {"key": n.id, "props": {**n.properties, layout.key: n.id}, "add": add})
        for _, (n, add) in sorted(nodes.items())
    ):
        out.append((cypher.render(queries.UPSERT_NODES, **slots, labels=_set_labels(labels)), {"rows": rows}))
    stale: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for node, _ in nodes.values():
        lost = _user_labels(layout, current_labels.get(node.id, ())) - set(node.labels)
        if lost:
            stale[tuple(sorted(lost))].append(node.id)
    for labels, keys in sorted(stale.items()):
        out.append((cypher.render(queries.REMOVE_LABELS, **slots, labels=cypher.labels(list(labels))), {"keys": keys}))
    for rel_type, rows in _grouped(
        (e.type, {**_ends(e), "props": dict(e.properties), "add": add}) for e, add in edges.values()
    ):
        out.append((cypher.render(queries.UPSERT_EDGES, **slots, type=cypher.labels([rel_type])), {"rows": rows}))
    gone = [Edge.from_key(key) for key in sorted(released_edges)]
    for rel_type, rows in _grouped((e.type, {**_ends(e), "count": released_edges[e.key]}) for e in gone):
        rendered = {**slots, "type": cypher.labels([rel_type])}
        out.append((cypher.render(queries.RELEASE_EDGES, **rendered), {"rows": rows}))
        out.append((cypher.render(queries.DROP_EDGES, **rendered), {"rows": rows}))
    if released_nodes:
        rows = [{"key": key, "count": count} for key, count in sorted(released_nodes.items())]
        out.append((cypher.render(queries.RELEASE_NODES, **slots), {"rows": rows}))
    # Nodes that may now be counted by no document: the released ones and the ends of released edges.
    loose = sorted({*released_nodes, *(e.source for e in gone), *(e.target for e in gone)})
    by_labels: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key in loose:
        by_labels[tuple(sorted(_user_labels(layout, current_labels.get(key, ()))))].append(key)
    for labels, keys in sorted(by_labels.items()):
        remove = f" REMOVE n{cypher.labels(list(labels))}" if labels else ""
        out.append((cypher.render(queries.STRIP_NODES, **slots, remove=remove), {"keys": keys}))
    if loose:
        out.append((cypher.render(queries.DROP_NODES, **slots), {"keys": loose}))
    return out + _bookkeeping(documents, failures)


def _merged(
    documents: Sequence[DocumentWrite],
) -> tuple[dict[str, tuple[Node, int]], dict[str, tuple[Edge, int]], Counter[str], Counter[str]]:
    """Entries to write, each with how many documents newly contain it, and how many released each key."""
    nodes: dict[str, tuple[Node, int]] = {}
    edges: dict[str, tuple[Edge, int]] = {}
    released_nodes: Counter[str] = Counter()
    released_edges: Counter[str] = Counter()
    for doc in documents:
        found = doc.found
        for node in found.nodes:
            nodes[node.id] = (node, nodes.get(node.id, (node, 0))[1] + (node.id in found.added_nodes))
        for edge in found.edges:
            edges[edge.key] = (edge, edges.get(edge.key, (edge, 0))[1] + (edge.key in found.added_edges))
        released_nodes.update(found.removed_nodes)
        released_edges.update(e.key for e in found.removed_edges)
    return nodes, edges, released_nodes, released_edges


def _bookkeeping(documents: Sequence[DocumentWrite], failures: Sequence[tuple[Saved, str]]) -> list[Statement]:
    """The document nodes: saved with their new manifest, deleted, or marked failed."""
    out: list[Statement] = []
    saves = [_document(doc.saved, doc.contribution) for doc in documents if doc.contribution is not None]
    if saves:
        out.append((queries.SAVE_DOCUMENTS, {"rows": saves}))
    deletes = [doc.saved.id for doc in documents if doc.contribution is None]
    if deletes:
        out.append((queries.DELETE_DOCUMENTS, {"ids": deletes}))
    if failures:
        out.append((queries.SAVE_FAILURES, {"rows": [{**_saved(saved), "error": error} for saved, error in failures]}))
    return out


def label_keys(documents: Sequence[DocumentWrite]) -> list[str]:
    """The nodes whose current labels `write` needs."""
    keys: set[str] = set()
    for doc in documents:
        found = doc.found
        keys.update(n.id for n in found.nodes)
        keys.update(found.removed_nodes)
        keys.update(key for e in found.removed_edges for key in (e.source, e.target))
    return sorted(keys)


def _saved(saved: Saved) -> dict[str, Any]:
    return {
        "id": saved.id,
        "path": saved.path,
        "hash": saved.hash,
        "commit": saved.commit,
        "synced_at": saved.synced_at,
    }


def _document(saved: Saved, contribution: Contribution) -> dict[str, Any]:
    return {
        **_saved(saved),
        "merkle": contribution.merkle,
        "nodes": sorted(contribution.nodes),
        "edges": sorted(contribution.edges),
    }


def _ends(edge: Edge) -> dict[str, Any]:
    return {"source": edge.source, "target": edge.target}


def _set_labels(labels: tuple[str, ...]) -> str:
    return f", n{cypher.labels(list(labels))}" if labels else ""


def _user_labels(layout: Layout, labels: Iterable[str]) -> set[str]:
    return {label for label in labels if label != layout.label}


def _grouped(pairs: Iterable[tuple[K, dict[str, Any]]]) -> list[tuple[K, list[dict[str, Any]]]]:
    groups: dict[K, list[dict[str, Any]]] = defaultdict(list)
    for group, row in pairs:
        groups[group].append(row)
    return list(groups.items())
