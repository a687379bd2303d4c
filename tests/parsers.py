"""A parser registered through `files.parsers` in the tests: a CSV edge list, one `from,to` per line.

A third field `meta` gives the first node a map property: it parses, but no graph
database stores one, so graphsync refuses the file before writing anything.
"""

from __future__ import annotations

from graphsync.connectors.files.documents import Document, DocumentError, Edge, Node


def edge_list(data: bytes, path: str) -> Document:
    nodes: dict[str, Node] = {}
    edges = []
    for number, line in enumerate(data.decode().splitlines(), start=1):
        parts = line.strip().split(",")
        meta = parts[2:] == ["meta"]
        if meta:
            parts = parts[:2]
        if len(parts) != 2:
            raise DocumentError(f"line {number}: expected 'from,to'")
        if meta:
            nodes[parts[0]] = Node(parts[0], ("Person",), {"meta": {"line": number}})
        for name in parts:
            nodes.setdefault(name, Node(name, ("Person",)))
        edges.append(Edge(parts[0], parts[1], "KNOWS"))
    return Document(list(nodes.values()), edges)
