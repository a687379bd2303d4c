"""Git repositories of graph documents for the files tests, and the graph they should produce.

A `Corpus` is the model: path -> document (or broken text). `expected` works out the
graph a correct sync builds from it, by id identity: every node a valid document
defines, placeholders for ids linked to but defined nowhere, and each node's and
relationship's reference count.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Read = Callable[[str, dict[str, Any]], list[list[Any]]]

# Broken file contents, each with what its reported reason must say.
BROKEN = {
    "{ not json": "not valid JSON",
    json.dumps({"nodes": [{"id": "x", "labels": ["Bad-Label"]}]}): "nodes[0].labels[0]",
    json.dumps({"nodes": [{"id": "x", "properties": {"geo": {"lat": 1.5}}}]}): "nodes[0].properties.geo",
    json.dumps({"nodes": [{"id": "x"}, {"id": "x"}]}): "nodes[1].id: 'x' appears twice",
    json.dumps({"nodes": [], "edges": [{"from": "a", "to": "b"}]}): "edges[0].type",
}
BROKEN_KINDS = tuple(BROKEN)


def node_id(file: int, n: int) -> str:
    return f"f{file}-n{n}"


def document(i: int, total: int, *, revision: int = 0) -> dict[str, Any]:
    """Three nodes, two edges inside the file and one to the next file's first node."""
    nodes = [
        {
            "id": node_id(i, n),
            "labels": ["Topic"] if n == 0 else ["Note", f"Kind{n}"],
            "properties": {"title": f"file {i} node {n}", "rank": i * 3 + n + revision, "tags": ["a", f"t{i % 7}"]},
        }
        for n in range(3)
    ]
    edges = [
        {"from": node_id(i, 0), "to": node_id(i, 1), "type": "HAS", "properties": {"weight": 0.5 + revision}},
        {"from": node_id(i, 0), "to": node_id(i, 2), "type": "HAS"},
        {"from": node_id(i, 2), "to": node_id((i + 1) % total, 0), "type": "LINKS"},
    ]
    return {"nodes": nodes, "edges": edges}


@dataclass
class Corpus:
    files: dict[str, str] = field(default_factory=dict)

    def put(self, path: str, content: dict[str, Any] | str) -> None:
        self.files[path] = content if isinstance(content, str) else json.dumps(content)

    def broken(self) -> list[str]:
        return sorted(p for p, text in self.files.items() if _parsed(text) is None)


def _parsed(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or text in BROKEN_KINDS:
        return None
    return value


def generate(count: int, *, broken_every: int = 0) -> Corpus:
    corpus = Corpus()
    for i in range(count):
        path = f"kb/{i % 20:02d}/doc-{i:05d}.json"
        if broken_every and i % broken_every == broken_every - 1:
            corpus.put(path, BROKEN_KINDS[(i // broken_every) % len(BROKEN_KINDS)])
        else:
            corpus.put(path, document(i, count))
    return corpus


Graph = tuple[dict[str, tuple[tuple[str, ...], dict[str, Any]]], dict[tuple[str, str, str], tuple[dict[str, Any], int]]]


def expected(corpus: Corpus) -> Graph:
    """Nodes: id -> (labels, properties incl. refs); relationships: (type, from, to) -> (properties, refs)."""
    nodes: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {}
    edges: dict[tuple[str, str, str], tuple[dict[str, Any], int]] = {}
    for text in corpus.files.values():
        doc = _parsed(text)
        if doc is None:
            continue
        for node in doc.get("nodes", []):
            refs = nodes[node["id"]][1]["_graphsync_refs"] if node["id"] in nodes else 0
            props = {**node.get("properties", {}), "id": node["id"], "_graphsync_refs": refs + 1}
            nodes[node["id"]] = (tuple(sorted(["Entity", *node.get("labels", [])])), props)
        for edge in doc.get("edges", []):
            key = (edge["type"], edge["from"], edge["to"])
            refs = edges[key][1] if key in edges else 0
            edges[key] = (edge.get("properties", {}), refs + 1)
    for _rel_type, source, target in list(edges):
        for end in (source, target):
            nodes.setdefault(end, (("Entity",), {"id": end, "_graphsync_refs": 0}))
    return nodes, edges


def actual(read: Read) -> Graph:
    nodes = {
        row[0]: (tuple(sorted(row[1])), dict(row[2]))
        for row in read("MATCH (n:Entity) RETURN n.id, labels(n), [k IN keys(n) | [k, n[k]]]", {})
    }
    edges = {}
    for rel_type, source, target, pairs in read(
        "MATCH (a:Entity)-[r]->(b:Entity) RETURN type(r), a.id, b.id, [k IN keys(r) | [k, r[k]]]", {}
    ):
        props = dict(pairs)
        refs = props.pop("_graphsync_refs")
        edges[(rel_type, source, target)] = (props, refs)
    return nodes, edges


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def init(repo: Path) -> None:
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "config", "user.email", "tests@graphsync.invalid")
    git(repo, "config", "user.name", "graphsync tests")


def commit(repo: Path, corpus: Corpus, message: str) -> str:
    """Make the work tree exactly the corpus, commit, return the commit."""
    for existing in repo.rglob("*.json"):
        if existing.relative_to(repo).as_posix() not in corpus.files:
            existing.unlink()
    for path, text in corpus.files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--allow-empty", "-m", message)
    return git(repo, "rev-parse", "HEAD")
