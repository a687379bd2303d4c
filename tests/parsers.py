"""A parser registered through `files.parsers` in the tests: a CSV edge list, one `from,to` per line."""

from __future__ import annotations

from graphsync.connectors.files.documents import Document, DocumentError, Edge, Node


def edge_list(data: bytes, path: str) -> Document:
    nodes: dict[str, Node] = {}
    edges = []
    for number, line in enumerate(data.decode().splitlines(), start=1):
        parts = line.strip().split(",")
        if len(parts) != 2:
            raise DocumentError(f"line {number}: expected 'from,to'")
        for name in parts:
            nodes.setdefault(name, Node(name, ("Person",)))
        edges.append(Edge(parts[0], parts[1], "KNOWS"))
    return Document(list(nodes.values()), edges)
