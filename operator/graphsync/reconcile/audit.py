"""The durable audit of reconciliation runs, kept in the pipeline's target graph.

A run is recorded when it starts (outcome `running`, so one that died shows as
such) and again when it ends; the newest `KEEP` runs per pipeline are kept.
FalkorDB keeps them in a graph of their own, since a rebuild replaces the target graph.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, LiteralString

from graphsync.connectors import cypher
from graphsync.connectors.graphs.reading import Store
from graphsync.reconcile.report import Report

KEEP = 100
AUDIT_GRAPH_SUFFIX = "__graphsync_audit"

# Run records, of reconciliations here and of sync runs (`graphsync.history`): `{label}` is the kind's.
RECORD_TEMPLATE: LiteralString = """
MERGE (r{label} {{id: $id}})
SET r += $run
"""
PRUNE_TEMPLATE: LiteralString = """
MATCH (r{label}) WHERE r.pipeline = $pipeline
WITH r ORDER BY r.startedAt DESC SKIP $keep
DELETE r
"""
LIST_TEMPLATE: LiteralString = """
MATCH (r{label}) WHERE r.pipeline = $pipeline
WITH r ORDER BY r.startedAt DESC LIMIT $limit
RETURN collect(properties(r)) AS rows
"""
_LABEL = cypher.labels(["GraphsyncReconciliation"])
RECORD = cypher.render(RECORD_TEMPLATE, label=_LABEL)
PRUNE = cypher.render(PRUNE_TEMPLATE, label=_LABEL)
LIST = cypher.render(LIST_TEMPLATE, label=_LABEL)
# Counts kept as properties (a query can filter on them); the per-entity detail as JSON text.
_COUNTS = ("compared", "missing", "extra", "different", "repaired", "failed")


class Audit:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, report: Report) -> None:
        summary = report.summary()
        run = {
            "pipeline": summary["pipeline"],
            "action": summary["action"],
            "scope": json.dumps(summary["scope"]),
            "startedAt": summary["startedAt"],
            "finishedAt": summary["finishedAt"],
            "outcome": summary["outcome"],
            "error": summary["error"],
            "entities": json.dumps(summary["entities"]),
            **{name: summary[name] for name in _COUNTS},
        }
        self._store.write(RECORD, {"id": report.id, "run": run})
        self._store.write(PRUNE, {"pipeline": report.pipeline, "keep": KEEP})

    def runs(self, pipeline: str, limit: int = 20) -> list[dict[str, Any]]:
        """The newest runs first, as `Report.summary` gives them."""
        [[rows]] = self._store.read(LIST, {"pipeline": pipeline, "limit": limit})
        return [_decoded(row) for row in rows]


def _decoded(row: Mapping[str, Any]) -> dict[str, Any]:
    run = dict(row)
    for name in ("scope", "entities"):
        run[name] = json.loads(run[name]) if run.get(name) else None
    return run
