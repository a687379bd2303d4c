"""Graph documents: parsing names the item at fault; contributions, Merkle hashes and diffs on plain data."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from graphsync.connectors.files import contribution as contrib
from graphsync.connectors.files.documents import (
    ALLOWED_ENV,
    Document,
    DocumentError,
    Edge,
    Node,
    Parsers,
    parse_json,
    registered,
)
from graphsync.connectors.files.statements import DocumentWrite, Layout, Saved, label_keys, write
from graphsync.spec.files import Identity, ParserRef


def doc(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None) -> bytes:
    return json.dumps({"nodes": nodes, "edges": edges or []}).encode()


ALICE = {"id": "alice", "labels": ["Person"], "properties": {"name": "Alice", "tags": ["a", "b"]}}
BOB = {"id": "bob", "labels": ["Person"], "properties": {"name": "Bob"}}
KNOWS = {"from": "alice", "to": "bob", "type": "KNOWS", "properties": {"since": 2020}}


def test_json_document_parses_nodes_and_edges() -> None:
    parsed = parse_json(doc([ALICE, BOB], [KNOWS]), "people.json")
    assert parsed.nodes[0] == Node("alice", ("Person",), {"name": "Alice", "tags": ["a", "b"]})
    assert (parsed.edges[0].source, parsed.edges[0].target, parsed.edges[0].type) == ("alice", "bob", "KNOWS")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{not json", "not valid JSON"),
        (doc([{"id": "x", "labels": ["Bad-Label"]}]), "nodes[0].labels[0]: 'Bad-Label' is not a valid identifier"),
        (doc([{"id": "x", "properties": {"geo": {"lat": 1}}}]), "nodes[0].properties.geo"),
        (doc([{"labels": ["A"]}]), "nodes[0].id: is required"),
        (doc([ALICE], [{"from": "alice", "to": "bob"}]), "edges[0].type: is required"),
        (json.dumps({"nodes": [], "vertices": []}).encode(), "vertices"),
    ],
)
def test_a_broken_document_names_the_item(data: bytes, message: str) -> None:
    with pytest.raises(DocumentError, match=re.escape(message)):
        parse_json(data, "broken.json")


def test_parsers_of_the_spec_come_before_the_built_in_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_ENV, "tests.unit.test_documents:one_node")
    parsers = Parsers([ParserRef(pattern="special/*.json", function="tests.unit.test_documents:one_node")])
    assert parsers.for_path("special/a.json") is one_node
    assert parsers.for_path("deep/dir/b.json") is parse_json
    assert parsers.for_path("notes.txt") is None


def test_a_parser_reference_that_does_not_import_is_a_spec_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_ENV, "no_such_module:parse")
    with pytest.raises(ValueError, match=r"files\.parsers: cannot import 'no_such_module'"):
        Parsers([ParserRef(pattern="*.x", function="no_such_module:parse")])


def test_a_spec_names_only_a_registered_parser_and_never_makes_the_worker_import_other_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ALLOWED_ENV, "tests.parsers:edge_list, tests.unit.test_documents:one_node")
    assert registered() >= {"tests.parsers:edge_list", "tests.unit.test_documents:one_node"}
    # Importable and callable, but nobody registered it: refused before any import.
    with pytest.raises(ValueError, match=r"files\.parsers: 'os:system' is not a registered parser \(registered: "):
        Parsers([ParserRef(pattern="*.x", function="os:system")])
    monkeypatch.delenv(ALLOWED_ENV)
    with pytest.raises(ValueError, match=r"entry point group 'graphsync\.parsers'"):
        Parsers([ParserRef(pattern="*.x", function="tests.parsers:edge_list")])


def one_node(data: bytes, path: str) -> Document:
    return Document([Node(path, ("File",), {"size": len(data)})])


def by(identity: Identity, *nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None) -> contrib.Contribution:
    return contrib.contribution(parse_json(doc(list(nodes), edges), "d.json"), identity=identity, key_property="id")


def test_content_identity_keys_equal_content_alike_in_every_document() -> None:
    one = by(Identity.CONTENT, ALICE, BOB, edges=[KNOWS])
    renamed = by(
        Identity.CONTENT, {**ALICE, "id": "a1"}, {**BOB, "id": "b1"}, edges=[{**KNOWS, "from": "a1", "to": "b1"}]
    )
    assert one.nodes.keys() == renamed.nodes.keys()
    assert one.merkle == renamed.merkle
    changed = by(Identity.CONTENT, {**ALICE, "properties": {"name": "Alicia"}}, BOB, edges=[KNOWS])
    assert changed.merkle != one.merkle
    assert len(changed.nodes.keys() & one.nodes.keys()) == 1


def test_identity_by_id_links_to_nodes_of_other_documents_but_content_does_not() -> None:
    outward = {"from": "alice", "to": "carol", "type": "KNOWS"}
    assert by(Identity.ID, ALICE, edges=[outward]).edges[Edge("alice", "carol", "KNOWS").key]
    with pytest.raises(DocumentError, match=r"edges\[0\]\.to: 'carol' is not a node of this document"):
        by(Identity.CONTENT, ALICE, edges=[outward])


@pytest.mark.parametrize(
    ("nodes", "edges", "message"),
    [
        ([ALICE, ALICE], [], r"nodes\[1\]\.id: 'alice' appears twice"),
        ([{**BOB, "properties": {"_graphsync_refs": 3}}], [], r"nodes\[0\]\.properties\._graphsync_refs"),
        ([ALICE, BOB], [KNOWS, {**KNOWS, "properties": {"since": 1999}}], r"edges\[1\]: a second KNOWS edge"),
    ],
)
def test_inconsistent_documents_are_refused(
    nodes: list[dict[str, Any]], edges: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(DocumentError, match=message):
        by(Identity.ID, *nodes, edges=edges)


@pytest.mark.parametrize(
    ("properties", "message"),
    [
        ({"geo": {"lat": 1}}, r"nodes\[0\]\.properties\.geo: dict values cannot be stored"),
        ({"mixed": [1, "a"]}, r"nodes\[0\]\.properties\.mixed: list values cannot be stored"),
        ({"nested": [[1]]}, r"nodes\[0\]\.properties\.nested"),
        ({"x": float("nan")}, r"nodes\[0\]\.properties\.x: nan is not a finite number"),
    ],
)
def test_values_no_target_stores_are_refused_whatever_parser_made_them(
    properties: dict[str, Any], message: str
) -> None:
    document = Document([Node("a", ("Thing",), properties)])
    with pytest.raises(DocumentError, match=message):
        contrib.contribution(document, identity=Identity.ID, key_property="id")


def test_a_parser_cannot_smuggle_an_invalid_label() -> None:
    document = Document([Node("a", ("Bad Label",))])
    with pytest.raises(DocumentError, match=r"nodes\[0\]\.labels: 'Bad Label' is not a valid identifier"):
        contrib.contribution(document, identity=Identity.ID, key_property="id")


def test_changes_write_what_is_new_and_release_what_is_gone() -> None:
    before = by(Identity.CONTENT, ALICE, BOB, edges=[KNOWS])
    stored = contrib.Stored("h1", before.merkle, sorted(before.nodes), sorted(before.edges))
    after = by(Identity.CONTENT, ALICE, {**BOB, "properties": {"name": "Robert"}}, edges=[KNOWS])
    found = contrib.changes(stored, after, identity=Identity.CONTENT)
    assert [n.properties["name"] for n in found.nodes] == ["Robert"]
    assert found.added_nodes == {found.nodes[0].id}
    assert len(found.removed_nodes) == 1
    assert found.removed_nodes[0] not in after.nodes
    assert [e.key for e in found.removed_edges] == sorted(before.edges.keys() - after.edges.keys())
    removal = contrib.removal(stored)
    assert sorted(removal.removed_nodes) == sorted(before.nodes)
    assert len(removal.removed_edges) == 1


def test_a_rewrite_writes_every_node_by_content_too_but_counts_only_new_ones() -> None:
    """What a reconciliation asks for when the target's copy of a document's entities drifted."""
    made = by(Identity.CONTENT, ALICE, BOB)
    stored = contrib.Stored(None, None, sorted(made.nodes), [])
    found = contrib.changes(stored, made, identity=Identity.CONTENT, rewrite=True)
    assert sorted(n.id for n in found.nodes) == sorted(made.nodes)
    assert found.added_nodes == frozenset()


def test_by_id_every_node_is_rewritten_and_only_new_ones_counted() -> None:
    before = by(Identity.ID, ALICE)
    stored = contrib.Stored("h1", before.merkle, ["alice"], [])
    found = contrib.changes(stored, by(Identity.ID, {**ALICE, "labels": ["Author"]}, BOB), identity=Identity.ID)
    assert [n.id for n in found.nodes] == ["alice", "bob"]
    assert found.added_nodes == {"bob"}


def test_write_counts_references_and_removes_lost_labels() -> None:
    layout = Layout("Entity", "id")
    new = by(Identity.ID, {**ALICE, "labels": ["Author"]}, BOB, edges=[KNOWS])
    found = contrib.changes(contrib.Stored("h", "m", ["alice", "carol"], []), new, identity=Identity.ID)
    doc = DocumentWrite(Saved("p:d.json", "d.json", "h2", "c0ffee", "2026-11-26T00:00:00+00:00"), found, new)
    assert label_keys([doc]) == ["alice", "bob", "carol"]
    current = {"alice": ["Entity", "Person"], "carol": ["Entity", "Person"]}
    statements = write(layout, [doc], current_labels=current)
    texts = [text for text, _ in statements]
    upserts = [params for text, params in statements if "MERGE (n:`Entity`" in text]
    assert sorted((r["key"], r["add"]) for p in upserts for r in p["rows"]) == [("alice", 0), ("bob", 1)]
    assert any("REMOVE n:`Person`" in t and "MATCH (n:`Entity` {`id`: key})\nREMOVE" in t for t in texts)
    assert texts[-1].strip().startswith("UNWIND $rows AS row\nMERGE (d:GraphsyncDocument")
    saved = statements[-1][1]["rows"][0]
    assert saved["nodes"] == ["alice", "bob"]
    assert saved["merkle"] == new.merkle
    release = [params for text, params in statements if "_graphsync_refs - row.count" in text]
    assert release == [{"rows": [{"key": "carol", "count": 1}]}]


def test_a_batch_merges_what_several_documents_touch_and_records_failures() -> None:
    layout = Layout("Entity", "content_hash")
    one, two = (by(Identity.CONTENT, ALICE, {**BOB, "id": f"b{i}"}, edges=[{**KNOWS, "to": f"b{i}"}]) for i in (1, 2))
    docs = [
        DocumentWrite(
            Saved(f"p:{i}", str(i), "h", None, "t"),
            contrib.changes(contrib.Stored(None, None), c, identity=Identity.CONTENT),
            c,
        )
        for i, c in enumerate((one, two))
    ]
    broken = Saved("p:x", "x", "h", None, "t")
    statements = write(layout, docs, current_labels={}, failures=[(broken, "not valid JSON")])
    rows = [r for text, params in statements if "MERGE (n:`Entity`" in text for r in params["rows"]]
    # Alice and Bob are the same content in both documents: one row each, counted twice.
    assert sorted(r["add"] for r in rows) == [2, 2]
    edges = [r for text, params in statements if "MERGE (a)-[r:`KNOWS`]->(b)" in text for r in params["rows"]]
    assert [r["add"] for r in edges] == [2]
    assert [r["id"] for r in statements[-2][1]["rows"]] == ["p:0", "p:1"]
    assert statements[-1][1]["rows"] == [
        {"id": "p:x", "path": "x", "hash": "h", "commit": None, "synced_at": "t", "error": "not valid JSON"}
    ]
