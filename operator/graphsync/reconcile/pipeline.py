"""Reconciling a pipeline: its source and target read as sides, its own sink for repairs, the audit of the run.

The code behind `graphsync reconcile` and the ReconciliationJob CronJob.
"""

from __future__ import annotations

import threading
from contextlib import ExitStack

from graphsync import connect, logs, sources, targets
from graphsync.change import version_now
from graphsync.compare.postgres import PostgresSide
from graphsync.compare.sides import GraphSide, Side
from graphsync.connectors.falkordb.graph import Graph
from graphsync.connectors.graphs.reading import Store, Versions
from graphsync.connectors.neo4j.reader import Neo4jReader
from graphsync.pipelines import bidirectional
from graphsync.reconcile.audit import AUDIT_GRAPH_SUFFIX, Audit
from graphsync.reconcile.files import FilesReconciliation
from graphsync.reconcile.report import EntityReport, Report
from graphsync.reconcile.walk import Walk
from graphsync.spec.pipeline import Mode, PipelineSpec
from graphsync.spec.reconcile import Action, ReconcileSpec


def reconcile(spec: PipelineSpec, job: ReconcileSpec, stop: threading.Event, report: Report | None = None) -> Report:
    """Run one reconciliation; its report is recorded in the audit whatever happens. `report`: one the caller
    watches while the run fills it in (its entity types appear as each begins).

    Raises ValueError, before touching anything, for a job that does not fit the pipeline.
    """
    if spec.source.files is not None:
        if job.scope.entities or job.scope.ids:
            raise ValueError("scope: a files pipeline is reconciled as a whole (its documents, nodes and edges)")
    else:
        job.check_against(spec.mapped)
    report = report or Report(spec.identity, job)
    # Every line of the run carries the id its audit record has.
    with logs.scope(**{logs.CORRELATION_ID: report.id}), ExitStack() as stack:
        audit = Audit(audit_store(spec, stack))
        audit.record(report)
        try:
            _compare(spec, job, stack, stop, report.entities)
        except Exception as exc:  # noqa: BLE001 - a failed run is recorded with its reason, then reported
            report.finish(error=f"{type(exc).__name__}: {exc}")
        else:
            report.finish(error="interrupted before every entity type was compared" if stop.is_set() else None)
        audit.record(report)
    return report


def _compare(
    spec: PipelineSpec, job: ReconcileSpec, stack: ExitStack, stop: threading.Event, into: list[EntityReport]
) -> None:
    """Append each entity type's report to `into` as it is done, so a failure keeps what came before it."""
    if spec.source.files is not None:
        into.extend(FilesReconciliation(spec, job, graph_store(spec, stack), stack).run(stop))
        return
    if spec.mode is Mode.BIDIRECTIONAL and job.action is Action.REPAIR:
        _two_way_repair(spec, job, stack, stop, into)
        return
    _walk(spec, job, stack, stop, into)


def _walk(
    spec: PipelineSpec, job: ReconcileSpec, stack: ExitStack, stop: threading.Event, into: list[EntityReport]
) -> None:
    walk = Walk(
        _source(spec, stack),
        GraphSide(targets.reader(spec, stack), spec.mapped, target=True, versions=Versions(None, 0)),
        targets.sink(spec, stack) if job.action is Action.REPAIR else None,
        job,
    )
    stack.callback(walk.close)
    for name in job.chosen(spec.mapped):
        if stop.is_set():
            break
        into.append(EntityReport(name))
        walk.entity(name, stop, into[-1])


def _two_way_repair(
    spec: PipelineSpec, job: ReconcileSpec, stack: ExitStack, stop: threading.Event, into: list[EntityReport]
) -> None:
    """A bidirectional pipeline has no side that is right by definition: it is repaired by a pass of its own,
    which copies each side's edits to the other, settles conflicts by the pipeline's policy and leaves held
    ones held. The differences are counted before and after the pass; what is left is named as not repaired
    (a held conflict, or a write a side refused), and the outcome is then `partial`."""
    found: list[EntityReport] = []
    looking = job.model_copy(update={"action": Action.REPORT})
    _walk(spec, looking, stack, stop, found)
    if stop.is_set():
        into.extend(found)
        return
    bidirectional.TwoWay(spec, stack).run_pass(stop)
    left: list[EntityReport] = []
    _walk(spec, looking, stack, stop, left)
    for before, after in zip(found, left, strict=False):
        before.repaired = max(before.differences - after.differences, 0)
        before.failed = after.differences
        for kind in ("missing", "extra", "different"):
            for sample in after.samples[kind][: max(0, job.samples - len(before.samples["failed"]))]:
                before.samples["failed"].append({**sample, "reason": _NOT_REPAIRED})
    into.extend(found)


_NOT_REPAIRED = (
    "still differs after the pipeline's own pass: a conflict held for a person (graphsync conflicts list), "
    "or a write one side refused"
)


def audit_store(spec: PipelineSpec, stack: ExitStack) -> Store:
    return graph_store(spec, stack, suffix=AUDIT_GRAPH_SUFFIX)


def graph_store(spec: PipelineSpec, stack: ExitStack, *, suffix: str = "") -> Store:
    """The target graph to read and write the engine's own records (`suffix`: a FalkorDB graph of their own)."""
    store: Store
    if spec.target.falkordb is not None:
        target = spec.target.falkordb
        graph = target.model_copy(update={"graph": f"{target.graph}{suffix}"})
        store = connect.falkordb_graph(graph, "target.falkordb")
    else:
        store = Neo4jReader(connect.neo4j_driver(spec.neo4j), database=spec.neo4j.database)
    stack.callback(store.close)
    return store


def existing(store: Store | None) -> Store | None:
    """A FalkorDB graph that does not exist has no records to read or change, and a query would create it."""
    if isinstance(store, Graph) and not store.client.exists(store.name):
        return None
    return store


def _source(spec: PipelineSpec, stack: ExitStack) -> Side:
    if spec.source.graph is not None:
        reader = sources.graph_reader(spec, stack)
        versions = Versions(spec.reading.watermark_property, version_now(), reader.native)
        return GraphSide(reader, spec.mapped, target=False, versions=versions, form=targets.form(spec))
    conn = stack.enter_context(connect.postgres(spec.postgres, autocommit=True))
    return PostgresSide(conn, spec.mapped, targets.form(spec))
