"""Which reports in a Lease the operator believes: each under its own pod's key, from the resource's own pods."""

from __future__ import annotations

from datetime import UTC, datetime

from graphsync_operator.build import names
from graphsync_operator.reports import (
    RETIRED_KEY,
    WorkerReport,
    WorkerState,
    annotation_key,
    from_workloads,
    reports_in,
)

NOW = datetime(2026, 12, 6, tzinfo=UTC)


def report(pod: str, state: WorkerState = WorkerState.RUNNING, synced: int = 1) -> WorkerReport:
    return WorkerReport(pod=pod, started_at=NOW, heartbeat=NOW, state=state, synced=synced)


def as_annotation(found: WorkerReport, key: str | None = None) -> tuple[str, str]:
    return key or annotation_key(found.pod), found.model_dump_json(by_alias=True)


def test_reports_under_their_own_pods_key_are_read_and_the_rest_ignored() -> None:
    mine = report("shop-worker-5d9c7-abcde")
    retired = report("(retired)", WorkerState.RETIRED, synced=40)
    other = report("shop-worker-5d9c7-zzzzz", synced=999)
    annotations = dict(
        [
            as_annotation(mine),
            as_annotation(retired, RETIRED_KEY),
            # A report under another pod's key speaks for a pod that did not write it.
            as_annotation(other, annotation_key("shop-worker-5d9c7-abcdf")),
            # Retired counts only under the retired key, and nothing else there.
            as_annotation(report("(retired)", WorkerState.RETIRED), annotation_key("(retired)")),
            (annotation_key("broken"), "{not json"),
            ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
        ]
    )
    reports, ignored = reports_in(annotations)
    assert reports == [mine, retired]
    assert len(ignored) == 3
    assert "kubectl.kubernetes.io/last-applied-configuration" not in ignored
    assert reports_in(dict([as_annotation(mine, RETIRED_KEY)])) == ([], [RETIRED_KEY])


def test_only_the_resources_own_workloads_pods_count() -> None:
    pipeline = [
        report("shop-worker-5d9c7-abcde"),
        report("shop-sync-29012345-k2x9q"),
        report("shop-sync-now-1a2b3c4d-p8t7r"),
        report("shop-cleanup-q7w8e"),
        report("(retired)", WorkerState.RETIRED),
    ]
    foreign = [report("other-worker-5d9c7-abcde"), report("shopx-worker-1-2"), report("nightly-reconcile-1-2")]
    assert from_workloads([*pipeline, *foreign], names.pod_prefixes("shop", names.SYNC)) == pipeline
    job = [report("nightly-reconcile-29012345-abcde"), report("nightly-reconcile-now-1a2b3c4d-p8t7r")]
    assert from_workloads([*job, *pipeline[:4]], names.pod_prefixes("nightly", names.RECONCILE)) == job
