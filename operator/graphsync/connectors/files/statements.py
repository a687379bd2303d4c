"""The statements of one document's write, as (query, parameters): pure, shared by both graph stores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, LiteralString, TypeVar

from graphsync.connectors import cypher
from graphsync.connectors.files import queries
from graphsync.connectors.files.contribution import Changes, Contribution
from graphsync.connectors.files.documents import Edge

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


def write(
    layout: Layout,
    found: Changes,
    *,
    current_labels: Mapping[str, Sequence[str]],
    saved: Saved,
    contribution: Contribution | None,
) -> list[Statement]:
    """Replace a document's stored contribution by the new one (`contribution` None: remove it).

    `current_labels` are the labels the target holds for the nodes written or
    removed, so labels a node lost are removed too (labels cannot be parameters).
    """
    slots = layout.slots()
    out: list[Statement] = []
    for labels, rows in _grouped(
        (tuple(n.labels), _node_row(layout, n.id, n.properties, n.id in found.added_nodes)) for n in found.nodes
    ):
        out.append((cypher.render(queries.UPSERT_NODES, **slots, labels=_set_labels(labels)), {"rows": rows}))
    stale: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for node in found.nodes:
        lost = _user_labels(layout, current_labels.get(node.id, ())) - set(node.labels)
        if lost:
            stale[tuple(sorted(lost))].append(node.id)
    for labels, keys in sorted(stale.items()):
        out.append((cypher.render(queries.REMOVE_LABELS, **slots, labels=cypher.labels(list(labels))), {"keys": keys}))
    for rel_type, rows in _grouped((e.type, _edge_row(e, e.key in found.added_edges)) for e in found.edges):
        out.append((cypher.render(queries.UPSERT_EDGES, **slots, type=cypher.labels([rel_type])), {"rows": rows}))
    for rel_type, rows in _grouped((e.type, _edge_row(e)) for e in found.removed_edges):
        rendered = {**slots, "type": cypher.labels([rel_type])}
        out.append((cypher.render(queries.RELEASE_EDGES, **rendered), {"rows": rows}))
        out.append((cypher.render(queries.DROP_EDGES, **rendered), {"rows": rows}))
    if found.removed_nodes:
        out.append((cypher.render(queries.RELEASE_NODES, **slots), {"keys": found.removed_nodes}))
    # Nodes that may now be counted by no document: the removed ones and the ends of removed edges.
    loose = sorted(
        {*found.removed_nodes, *(e.source for e in found.removed_edges), *(e.target for e in found.removed_edges)}
    )
    by_labels: dict[tuple[str, ...], list[str]] = defaultdict(list)
    for key in loose:
        by_labels[tuple(sorted(_user_labels(layout, current_labels.get(key, ()))))].append(key)
    for labels, keys in sorted(by_labels.items()):
        remove = f" REMOVE n{cypher.labels(list(labels))}" if labels else ""
        out.append((cypher.render(queries.STRIP_NODES, **slots, remove=remove), {"keys": keys}))
    if loose:
        out.append((cypher.render(queries.DROP_NODES, **slots), {"keys": loose}))
    if contribution is not None:
        out.append((queries.SAVE_DOCUMENT, _document(saved, contribution)))
    else:
        out.append((queries.DELETE_DOCUMENT, {"id": saved.id}))
    return out


def failure(saved: Saved, error: str) -> Statement:
    return queries.SAVE_FAILURE, {
        "id": saved.id,
        "path": saved.path,
        "hash": saved.hash,
        "error": error,
        "commit": saved.commit,
        "synced_at": saved.synced_at,
    }


def label_keys(found: Changes) -> list[str]:
    """The nodes whose current labels `write` needs."""
    ends = (key for e in found.removed_edges for key in (e.source, e.target))
    return sorted({*(n.id for n in found.nodes), *found.removed_nodes, *ends})


def _document(saved: Saved, contribution: Contribution) -> dict[str, Any]:
    return {
        "id": saved.id,
        "path": saved.path,
        "hash": saved.hash,
        "merkle": contribution.merkle,
        "nodes": sorted(contribution.nodes),
        "edges": sorted(contribution.edges),
        "commit": saved.commit,
        "synced_at": saved.synced_at,
    }


def _node_row(layout: Layout, key: str, properties: Mapping[str, Any], added: bool) -> dict[str, Any]:
    return {"key": key, "props": {**properties, layout.key: key}, "add": int(added)}


def _edge_row(edge: Edge, added: bool | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"source": edge.source, "target": edge.target}
    if added is not None:
        row["props"] = dict(edge.properties)
        row["add"] = int(added)
    return row


def _set_labels(labels: tuple[str, ...]) -> str:
    return f", n{cypher.labels(list(labels))}" if labels else ""


def _user_labels(layout: Layout, labels: Iterable[str]) -> set[str]:
    return {label for label in labels if label != layout.label}


def _grouped(pairs: Iterable[tuple[K, dict[str, Any]]]) -> list[tuple[K, list[dict[str, Any]]]]:
    groups: dict[K, list[dict[str, Any]]] = defaultdict(list)
    for group, row in pairs:
        groups[group].append(row)
    return list(groups.items())
