"""Reconciling a files pipeline: the repository at its current commit against what the target holds.

Three entity types:
- documents: each file against its `GraphsyncDocument` (missing, extra, a different file hash, or
  recorded as failed: what the graph holds is not what the file says);
- nodes and edges: what each synced document says, parsed again, against the entities the
  target holds (missing, different), and entities with references that no file contains (extra).

Files are compared in buckets of `BUCKET` paths. The extra check keeps the keys of every node
and edge the files contain (a set of strings: memory grows with the graph, not with the files).
A repair deletes what is extra, marks documents whose entities drifted for a rewrite (their
stored hashes cleared), runs the files sync (which writes missing and changed documents and
removes vanished ones), then recounts the references of what it recreated or found uncounted,
all under the pipeline's writer lease, so no worker writes between its comparison and its repair.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any, LiteralString

from graphsync import sources, targets
from graphsync.compare.entries import LABELS, Entry
from graphsync.connectors import cypher
from graphsync.connectors.files import contribution as contrib
from graphsync.connectors.files import workers
from graphsync.connectors.files.documents import Parsers
from graphsync.connectors.files.repository import FileEntry, open_repository
from graphsync.connectors.files.statements import Layout
from graphsync.connectors.graphs.reading import Store, canonical, digest, fetch, visible
from graphsync.pipelines import files
from graphsync.reconcile.report import EntityReport
from graphsync.runner.control import RunControl
from graphsync.runner.retry import Backoff, Interrupted
from graphsync.spec.pipeline import Mode, PipelineSpec
from graphsync.spec.reconcile import Action, ReconcileSpec

log = logging.getLogger(__name__)
BUCKET = 500
PAGE = 2000

NODES_BY_KEY: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
RETURN collect([key, labels(n), properties(n)]) AS rows
"""
EDGES_BY_ENDS: LiteralString = """
UNWIND $rows AS row
MATCH (a{label} {{{key}: row.source}})-[r]->(b{label} {{{key}: row.target}})
WHERE type(r) = row.type
RETURN collect([row.key, properties(r)]) AS rows
"""
# Every node of the layout with references, a page of keys after `after`, and the edges they start.
COUNTED_NODES: LiteralString = """
MATCH (n{label}) WHERE n.{key} > $after AND n._graphsync_refs > 0
WITH n ORDER BY n.{key} LIMIT $limit
RETURN collect([n.{key}, labels(n), properties(n)]) AS rows
"""
COUNTED_EDGES: LiteralString = """
UNWIND $keys AS key
MATCH (a{label} {{{key}: key}})-[r]->(b{label})
WHERE r._graphsync_refs > 0
RETURN collect([type(r), key, b.{key}, properties(r)]) AS rows
"""
# A node no file contains loses its properties and references; then it goes, unless a relationship that
# some file contains still points at it (it stays a placeholder, as the sync leaves one).
STRIP_NODES: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
SET n = {{{key}: key, _graphsync_refs: 0}}
"""
DROP_NODES: LiteralString = """
UNWIND $keys AS key
MATCH (n{label} {{{key}: key}})
WHERE NOT (n)--()
DELETE n
"""
DROP_EDGES: LiteralString = """
UNWIND $rows AS row
MATCH (a{label} {{{key}: row.source}})-[r]->(b{label} {{{key}: row.target}})
WHERE type(r) = row.type
DELETE r
"""
MARK_FOR_REWRITE: LiteralString = """
UNWIND $ids AS id
MATCH (d:GraphsyncDocument {{id: id}})
SET d.hash = null, d.merkle = null
"""
# Reference counts of recreated entities: the documents whose manifest lists them.
COUNT_NODE_REFS: LiteralString = """
UNWIND $keys AS key
MATCH (d:GraphsyncDocument) WHERE d.id STARTS WITH $prefix AND key IN d.nodes
WITH key, count(d) AS refs
MATCH (n{label} {{{key}: key}})
SET n._graphsync_refs = refs
"""
COUNT_EDGE_REFS: LiteralString = """
UNWIND $rows AS row
MATCH (d:GraphsyncDocument) WHERE d.id STARTS WITH $prefix AND row.id IN d.edges
WITH row, count(d) AS refs
MATCH (a{label} {{{key}: row.source}})-[r]->(b{label} {{{key}: row.target}})
WHERE type(r) = row.type
SET r._graphsync_refs = refs
"""


class FilesReconciliation:
    def __init__(self, spec: PipelineSpec, job: ReconcileSpec, graph: Store, stack: ExitStack) -> None:
        self._spec = spec
        self._job = job
        self._files = spec.files
        self._graph = graph
        self._layout = Layout(self._files.label, self._files.node_key)
        self._slots = self._layout.slots()
        self._prefix = f"{spec.identity}:"
        self._store = targets.document_store(spec, self._layout, stack)
        self._repository = open_repository(self._files, sources.cache_dir())
        self._parsers = Parsers(self._files.parsers)
        self._lease = targets.writer_lease(spec, self._store, _direct)

    def run(self, stop: threading.Event) -> list[EntityReport]:
        if self._job.action is not Action.REPAIR:
            return self._compare(stop).reports

        def waiting(holder: str, attempt: int) -> None:
            log.info("files repair: waiting for the writer lease, held by %s", holder)
            Backoff().wait(attempt, stop)

        # A repair is a writer: what it compares must not change under it (a worker's round writing a newer
        # commit would look extra, and be dropped), so it holds the writer lease from its comparison to the
        # one after its repair, the sync it runs included.
        try:
            with self._lease.held(waiting):
                return self._repaired(stop)
        except Interrupted:
            return []

    def _repaired(self, stop: threading.Event) -> list[EntityReport]:
        found = self._compare(stop)
        # An interrupted comparison has not seen every file: what it did not read is no drift to repair.
        if stop.is_set() or not any(r.differences for r in found.reports):
            return found.reports
        self._repair(found, stop)
        after = self._compare(stop)
        for before, now in zip(found.reports, after.reports, strict=True):
            before.repaired = before.differences - now.differences
            before.failed = now.differences
        return found.reports

    def _compare(self, stop: threading.Event) -> _Found:
        found = _Found()
        commit = self._repository.resolve()
        reader = self._repository.reader(self._files.max_file_bytes)
        try:
            for chunk in workers.chunks(self._repository.files(commit), BUCKET):
                if stop.is_set():
                    break
                self._documents(chunk, reader, found)
        finally:
            reader.close()
        if not stop.is_set():
            self._vanished(commit, found)
            self._uncounted(found)
        return found

    def _documents(self, chunk: list[FileEntry], reader: Any, found: _Found) -> None:
        documents = found.reports[0]
        stored = self._store.read([self._prefix + entry.path for entry in chunk])
        documents.buckets += 1
        synced: list[tuple[str, contrib.Contribution]] = []
        for entry in chunk:
            ident = self._prefix + entry.path
            known = stored.get(ident)
            documents.source += 1
            document = Entry(ident, entry.path, 0, {"hash": entry.hash})
            if known is None or known.hash is None:
                documents.missing += 1
                documents.sample("missing", self._job.samples, document, None)
            elif known.hash != entry.hash:
                documents.different += 1
                stored_hash = Entry(ident, entry.path, 0, {"hash": known.hash})
                documents.sample("different", self._job.samples, document, stored_hash)
            elif known.error is not None:
                # Recorded as failed: the graph does not hold what this version of the file says.
                documents.different += 1
                failed = Entry(ident, entry.path, 0, {"hash": known.hash, "error": known.error})
                documents.sample("different", self._job.samples, document, failed, reason=f"failed: {known.error}")
            made = self._parse(entry, reader)
            if made is None:
                # A file the sync cannot read keeps what it contributed before.
                if known is not None:
                    found.node_keys.update(known.nodes)
                    found.edge_keys.update(known.edges)
                continue
            found.node_keys.update(made.nodes)
            found.edge_keys.update(made.edges)
            if known is None or known.hash is None:
                # Its entities may still be there, counted by the document node that went: count them again.
                found.recount_nodes.extend(made.nodes)
                found.recount_edges.extend(made.edges)
            if known is not None and known.hash == entry.hash and known.error is None:
                synced.append((ident, made))
        for ident, made in synced:
            if self._entities(made, found):
                found.rewrite.append(ident)

    def _parse(self, entry: FileEntry, reader: Any) -> contrib.Contribution | None:
        """What the file says; None for a file the sync cannot read either (it lists those as failed files)."""
        parser = self._parsers.for_path(entry.path)
        if parser is None:
            return None
        try:
            document = parser(reader.read(entry), entry.path)
            return contrib.contribution(document, identity=self._files.identity, key_property=self._layout.key)
        except Exception:  # noqa: BLE001 - any parser's failure; the sync records it with its reason
            return None

    def _entities(self, made: contrib.Contribution, found: _Found) -> bool:
        """Compare one synced document's entities with the target's; True when any differ."""
        nodes, edges = found.reports[1], found.reports[2]
        drift = False
        wanted = {key: node for key, node in made.nodes.items() if key not in found.checked}
        found.checked.update(wanted)
        held = {
            key: Entry(key, key, 0, self._node_content(labels, props))
            for key, labels, props in self._read(NODES_BY_KEY, keys=sorted(wanted))
        }
        for key, node in wanted.items():
            expected = {**node.properties, self._layout.key: key, LABELS: sorted(node.labels)}
            entry = Entry(key, key, digest(expected), expected)
            nodes.source += 1
            drift |= _count(nodes, entry, held.get(key), found, self._job.samples)
        rows = [{"key": k, "source": e.source, "target": e.target, "type": e.type} for k, e in made.edges.items()]
        held_edges = {key: Entry(key, key, 0, visible(props)) for key, props in self._read(EDGES_BY_ENDS, rows=rows)}
        for key, edge in made.edges.items():
            entry = Entry(key, json.loads(key), digest(dict(edge.properties)), dict(edge.properties))
            edges.source += 1
            drift |= _count(edges, entry, held_edges.get(key), found, self._job.samples)
        return drift

    def _vanished(self, commit: str | None, found: _Found) -> None:
        documents = found.reports[0]
        after = self._prefix
        while page := self._store.page(self._prefix, after, PAGE):
            paths = [ident[len(self._prefix) :] for ident in page]
            present = self._repository.existing(commit, paths)
            documents.target += len(page)
            for ident, path in zip(page, paths, strict=True):
                if path not in present:
                    documents.extra += 1
                    documents.sample("extra", self._job.samples, None, Entry(ident, path, 0, {}))
            after = page[-1]

    def _uncounted(self, found: _Found) -> None:
        """Nodes and edges with references that no file contains."""
        nodes, edges = found.reports[1], found.reports[2]
        after = ""
        while rows := self._read(COUNTED_NODES, after=after, limit=PAGE):
            nodes.target += len(rows)
            for key, labels, props in rows:
                if key not in found.node_keys:
                    nodes.extra += 1
                    found.extra_nodes.append(key)
                    held = Entry(key, key, 0, self._node_content(labels, props))
                    nodes.sample("extra", self._job.samples, None, held)
            for rel_type, start, end, props in self._read(COUNTED_EDGES, keys=[row[0] for row in rows]):
                edges.target += 1
                key = json.dumps([rel_type, start, end], separators=(",", ":"))
                if key not in found.edge_keys:
                    edges.extra += 1
                    found.extra_edges.append({"type": rel_type, "source": start, "target": end})
                    held = Entry(key, [rel_type, start, end], 0, visible(props))
                    edges.sample("extra", self._job.samples, None, held)
            after = rows[-1][0]

    def _repair(self, found: _Found, stop: threading.Event) -> None:
        self._write(DROP_EDGES, rows=found.extra_edges)
        self._write(STRIP_NODES, keys=found.extra_nodes)
        self._write(DROP_NODES, keys=found.extra_nodes)
        self._write(MARK_FOR_REWRITE, ids=found.rewrite)
        snapshot = self._spec.model_copy(update={"mode": Mode.SNAPSHOT})
        files.run(snapshot, RunControl(stop=stop, until_idle=True), self._lease)
        self._write(COUNT_NODE_REFS, keys=found.recount_nodes, prefix=self._prefix)
        edge_rows = [{"id": key, **_ends(key)} for key in found.recount_edges]
        self._write(COUNT_EDGE_REFS, rows=edge_rows, prefix=self._prefix)

    def _node_content(self, labels: list[str], props: dict[str, Any]) -> dict[str, Any]:
        return {**visible(props), LABELS: sorted(label for label in labels if label != self._layout.label)}

    def _read(self, template: LiteralString, **params: Any) -> list[list[Any]]:
        return fetch(self._graph, cypher.render(template, **self._slots), params)

    def _write(self, template: LiteralString, **params: Any) -> None:
        if any(isinstance(value, list) and value for value in params.values()):
            self._graph.write(cypher.render(template, **self._slots), params)


def _direct(call: Callable[..., str | None], *args: object) -> str | None:
    """A lease call made once: a repair fails on a target outage rather than wait it out."""
    return call(*args)


class _Found:
    """One comparison's reports, and what a repair needs from it."""

    def __init__(self) -> None:
        self.reports = [EntityReport("documents"), EntityReport("nodes"), EntityReport("edges")]
        self.node_keys: set[str] = set()
        self.edge_keys: set[str] = set()
        self.checked: set[str] = set()
        self.rewrite: list[str] = []
        self.extra_nodes: list[str] = []
        self.extra_edges: list[dict[str, str]] = []
        self.recount_nodes: list[str] = []
        self.recount_edges: list[str] = []


def _count(report: EntityReport, entry: Entry, held: Entry | None, found: _Found, samples: int) -> bool:
    if held is None:
        report.missing += 1
        report.sample("missing", samples, entry, None)
        (found.recount_nodes if report.entity == "nodes" else found.recount_edges).append(entry.ident)
        return True
    if canonical(held.content) != canonical(entry.content):
        report.different += 1
        report.sample("different", samples, entry, held)
        return True
    return False


def _ends(key: str) -> dict[str, str]:
    rel_type, source, target = json.loads(key)
    return {"type": rel_type, "source": source, "target": target}
