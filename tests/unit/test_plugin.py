"""kubectl graphsync's pure parts: rows and tables from status dicts, patch bodies, the spec its engine commands run."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest

from graphsync import __version__
from graphsync.spec.conflicts import ConflictPolicySpec
from graphsync_operator.build import names
from graphsync_operator.plugin import command, engine, steer, summary, version
from graphsync_operator.plugin.steer import PluginError
from tests.resources import resource, shop_spec

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def condition(kind: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": "2026-11-26T11:00:00Z",
    }


def pipeline(name: str = "shop", generation: int = 2, **status: Any) -> dict[str, Any]:
    found = resource("SyncPipeline", name, "prod", shop_spec())
    found["metadata"]["generation"] = generation
    found["status"] = {"observedGeneration": 2, **status}
    return found


RUNNING = [
    condition("Ready", "True", "Syncing", "1 worker(s) running"),
    condition("Reconciling", "False", "Reconciled"),
    condition("Stalled", "False", "Running"),
    condition("Degraded", "False", "AsExpected"),
    condition("InSync", "True", "CaughtUp"),
]
SILENT = "worker shop-worker-1 last reported at 2026-11-26T11:58:00Z; 0/1 running"
DEGRADED = [
    condition("Ready", "False", "WorkerSilent", SILENT),
    condition("Reconciling", "False", "Reconciled"),
    condition("Stalled", "True", "WorkerSilent", SILENT),
    condition("Degraded", "True", "WorkerSilent", SILENT),
    condition("InSync", "Unknown", "NoReports", "no worker is reporting"),
]


def test_a_running_pipeline_is_one_row_with_its_progress_and_no_issues() -> None:
    last = {
        "name": "nightly",
        "outcome": "repaired",
        "startedAt": "2026-11-26T11:50:00Z",
        "finishedAt": "2026-11-26T11:55:00Z",
    }
    row = summary.pipeline_row(
        pipeline(
            phase="Running",
            itemsSynced=250,
            itemsFailed=0,
            lagSeconds=0.0,
            workers="1/1",
            openConflicts=None,
            lastReconciliation=last,
            conditions=RUNNING,
        ),
        NOW,
    )
    assert (row.name, row.ready, row.phase, row.synced, row.failed, row.workers) == (
        "shop",
        "True",
        "Running",
        250,
        0,
        "1/1",
    )
    assert row.last_reconciliation == "repaired 5m ago (nightly)"
    assert row.issues == []
    text = summary.render(summary.Report([row], [], []), all_namespaces=False).splitlines()
    assert text[0] == "SyncPipelines"
    assert text[1].split() == " ".join(summary.PIPELINE_HEADERS).split()
    assert summary.PIPELINE_HEADERS[-1] == "LAST RECONCILIATION"
    assert text[2].split() == [
        "shop",
        "True",
        "Running",
        "250",
        "0",
        "0s",
        "1/1",
        "-",
        "repaired",
        "5m",
        "ago",
        "(nightly)",
    ]
    # Columns line up: each cell starts where its header does.
    assert text[2].index("Running") == text[1].index("PHASE")


def test_a_degraded_pipeline_says_why_once_under_its_row_and_namespaces_show_with_all_namespaces() -> None:
    row = summary.pipeline_row(pipeline(phase="Degraded", itemsSynced=10, workers="0/1", conditions=DEGRADED), NOW)
    # Ready, Stalled and Degraded all say the same: one line. InSync Unknown is no issue of its own.
    assert [issue.text() for issue in row.issues] == [f"Ready=False WorkerSilent: {SILENT}"]
    text = summary.render(summary.Report([row], [], []), all_namespaces=True).splitlines()
    assert text[1].split()[:2] == ["NAMESPACE", "NAME"]
    assert text[2].split()[:4] == ["prod", "shop", "False", "Degraded"]
    assert text[3] == f"    Ready=False WorkerSilent: {SILENT}"
    assert summary.pipeline_row(pipeline(conditions=DEGRADED), NOW).lag_seconds is None
    assert summary.lag(None) == "-"


def test_a_pipeline_a_moment_behind_shows_it_in_its_lag_column_only() -> None:
    behind = [*RUNNING[:4], condition("InSync", "False", "Behind", "the slowest worker is 0s behind")]
    row = summary.pipeline_row(pipeline(phase="Running", lagSeconds=0.2, conditions=behind), NOW)
    assert row.issues == []
    assert summary.lag(row.lag_seconds) == "0s"


def test_a_generation_the_operator_has_not_seen_is_an_issue() -> None:
    row = summary.pipeline_row(pipeline(generation=3, phase="Running", conditions=RUNNING), NOW)
    assert [issue.reason for issue in row.issues] == ["NotObserved"]
    assert "generation 3" in row.issues[0].message


def test_jobs_and_policies_have_their_own_sections() -> None:
    job = resource("ReconciliationJob", "nightly", "prod", {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *"})
    job["status"] = {
        "phase": "Scheduled",
        "lastRun": {"outcome": "drift", "startedAt": "2026-11-26T10:00:00Z", "missing": 2, "extra": 1, "different": 3},
        "conditions": [condition("Ready", "True", "Scheduled"), condition("InSync", "False", "Drift", "6 differ")],
    }
    policy = resource("ConflictPolicy", "careful", "prod", {"strategy": "sourceWins"})
    policy["status"] = {"pipelines": ["shop"], "conditions": [condition("Ready", "True", "Valid")]}
    report = summary.Report([], [summary.job_row(job, NOW)], [summary.policy_row(policy)])
    text = summary.render(report, all_namespaces=False).split("\n\n")
    assert text[0].splitlines()[0] == "ReconciliationJobs"
    assert text[0].splitlines()[2].split() == [
        "nightly",
        "shop",
        "0",
        "3",
        "*",
        "*",
        "*",
        "True",
        "Scheduled",
        "drift",
        "2h",
        "ago",
        "6",
        "0",
    ]
    assert text[0].splitlines()[3] == "    InSync=False Drift: 6 differ"
    assert text[1].splitlines()[2].split() == ["careful", "True", "sourceWins", "shop"]
    assert report.data()["reconciliationJobs"][0]["differences"] == 6


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0, "0s"), (59.9, "59s"), (60, "1m"), (192, "3m12s"), (7500, "2h5m"), (3 * 86400 + 3600 * 4, "3d4h")],
)
def test_durations_read_like_kubectl_ages(seconds: float, shown: str) -> None:
    assert summary.duration(seconds) == shown


def test_patch_bodies_touch_only_what_they_mean() -> None:
    assert steer.suspend_patch(True) == {"spec": {"suspend": True}}
    assert steer.suspend_patch(False) == {"spec": {"suspend": False}}
    assert steer.request_patch(names.SYNC_NOW, "v1") == {"metadata": {"annotations": {"graphsync.io/sync-now": "v1"}}}
    assert steer.request_value(NOW) == "2026-11-26T12:00:00.000000Z"


def test_a_request_is_handled_once_the_status_records_its_value() -> None:
    found = pipeline(handledRequests={"graphsync.io/sync-now": "a"})
    assert steer.handled(found, names.SYNC_NOW, "a")
    assert not steer.handled(found, names.SYNC_NOW, "b")
    assert not steer.handled(pipeline(), names.SYNC_NOW, "a")


def test_suspension_counts_once_the_operator_acted_on_the_generation() -> None:
    suspended = [condition("Ready", "True", "Suspended", "spec.suspend is true: no worker runs")]
    assert steer.suspended_as_asked(pipeline(phase="Suspended", conditions=suspended), True)
    assert not steer.suspended_as_asked(pipeline(generation=3, phase="Suspended", conditions=suspended), True)
    assert not steer.suspended_as_asked(pipeline(phase="Suspended", conditions=suspended), False)
    assert steer.suspended_as_asked(pipeline(phase="Pending"), False)
    assert not steer.suspended_as_asked(pipeline(phase="Pending"), True)


def test_a_pipeline_scaled_to_zero_counts_as_resumed() -> None:
    # Phase Suspended, but by workers.replicas: 0, not by spec.suspend: a resume has nothing more to wait for.
    zero = [condition("Ready", "True", "ScaledToZero", "workers.replicas is 0")]
    assert steer.suspended_as_asked(pipeline(phase="Suspended", conditions=zero), False)
    assert not steer.suspended_as_asked(pipeline(phase="Suspended", conditions=zero), True)


def test_a_reconciliation_job_is_read_with_its_own_status() -> None:
    job = resource("ReconciliationJob", "nightly", "prod", {"pipelineRef": {"name": "shop"}, "schedule": "0 3 * * *"})
    job["metadata"]["generation"] = 4
    job["status"] = {
        "observedGeneration": 4,
        "phase": "Suspended",
        "handledRequests": {"graphsync.io/reconcile-now": "v1"},
        "conditions": [condition("Ready", "True", "Suspended", "spec.suspend is true: no run starts")],
    }
    assert steer.suspended_as_asked(job, True)
    assert steer.handled(job, names.RECONCILE_NOW, "v1")
    assert not steer.handled(job, names.SYNC_NOW, "v1")


def test_names_and_kinds_as_kubectl_takes_them() -> None:
    kinds = ("SyncPipeline", "ReconciliationJob")
    assert steer.ref("shop", "SyncPipeline", kinds) == steer.Ref("SyncPipeline", "shop")
    assert steer.ref("rj/nightly", "SyncPipeline", kinds) == steer.Ref("ReconciliationJob", "nightly")
    assert steer.ref("syncpipeline.graphsync.io/shop", "SyncPipeline", kinds).kind == "SyncPipeline"
    with pytest.raises(PluginError, match="unknown kind 'cp'"):
        steer.ref("cp/careful", "SyncPipeline", kinds)
    with pytest.raises(PluginError, match="acts on SyncPipeline, not ReconciliationJob"):
        steer.ref("rj/nightly", "SyncPipeline", ("SyncPipeline",))
    with pytest.raises(PluginError, match="no name"):
        steer.ref("sp/", "SyncPipeline", kinds)


def secret(**values: str) -> dict[str, Any]:
    return {"data": {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}}


def test_the_engine_spec_is_rendered_as_for_the_workers_with_secrets_from_the_cluster() -> None:
    resolved = engine.resolve(pipeline(), None, {"shop-db": secret(**{"pg-password": "pg!", "neo4j-password": "n4j"})})
    assert resolved.spec.name == "shop"
    assert resolved.spec.source.postgres is not None
    password = resolved.spec.source.postgres.password
    assert password is not None
    assert password.env == "GRAPHSYNC_SECRET_SOURCE_POSTGRES_PASSWORD"
    assert resolved.env == {
        "GRAPHSYNC_SECRET_SOURCE_POSTGRES_PASSWORD": "pg!",
        "GRAPHSYNC_SECRET_TARGET_NEO4J_PASSWORD": "n4j",
    }


def test_a_referenced_policy_is_inlined() -> None:
    twoway = pipeline()
    twoway["spec"].pop("transport")
    twoway["spec"].update(mode="bidirectional", conflictPolicyRef={"name": "careful"})
    customer = {"name": "customer", "table": "shop.customer", "labels": ["Customer"], "key": "id"}
    twoway["spec"]["mappings"] = {"nodes": [customer]}
    policy = ConflictPolicySpec.model_validate({"strategy": "targetWins"})
    resolved = engine.resolve(twoway, policy, {"shop-db": secret(**{"pg-password": "a", "neo4j-password": "b"})})
    assert resolved.spec.conflict_policy is not None
    assert resolved.spec.conflict_policy.strategy.value == "targetWins"
    assert resolved.spec.conflict_policy_ref is None


def test_missing_secrets_keys_and_policies_are_named() -> None:
    with pytest.raises(
        PluginError, match=r"spec.source.postgres.password.secretKeyRef: Secret 'shop-db' does not exist"
    ):
        engine.resolve(pipeline(), None, {"shop-db": None})
    with pytest.raises(PluginError, match="Secret 'shop-db' has no key 'neo4j-password'"):
        engine.resolve(pipeline(), None, {"shop-db": secret(**{"pg-password": "a"})})
    with pytest.raises(PluginError, match=r"spec\.conflictPolicyRef: ConflictPolicy 'careful' does not exist"):
        engine.policy_spec("careful", None)
    broken = pipeline()
    broken["spec"]["mode"] = "sometimes"
    with pytest.raises(PluginError, match="SyncPipeline 'shop' has an invalid spec:\n  mode:"):
        engine.resolve(broken, None, {})


def test_connection_options_go_before_or_after_the_subcommand() -> None:
    parser = command.parser()
    after = parser.parse_args(["status", "-n", "prod", "-o", "json"])
    before = parser.parse_args(["-n", "prod", "status"])
    assert (after.namespace, after.output, before.namespace, before.all_namespaces) == ("prod", "json", "prod", False)
    assert parser.parse_args(["-A", "status"]).all_namespaces
    dlq = parser.parse_args(["dlq", "replay", "shop", "--id", "4", "--id", "7", "-n", "prod"])
    assert (dlq.dlq_command, dlq.name, dlq.ids, dlq.namespace) == ("replay", "shop", [4, 7], "prod")
    between = parser.parse_args(["dlq", "-n", "prod", "list", "shop", "--context", "kind"])
    assert (between.dlq_command, between.name, between.namespace, between.context) == ("list", "shop", "prod", "kind")
    held = parser.parse_args(["--kubeconfig", "k", "conflicts", "-n", "prod", "show", "shop", "c-1"])
    assert (held.conflicts_command, held.id, held.namespace, held.kubeconfig) == ("show", "c-1", "prod", "k")
    last_word = parser.parse_args(["-n", "a", "dlq", "-n", "b", "list", "shop", "-n", "c"])
    assert last_word.namespace == "c"
    resolve = parser.parse_args(["conflicts", "resolve", "shop", "c-1", "--take", "source"])
    assert (resolve.conflicts_command, resolve.name, resolve.id, resolve.take) == ("resolve", "shop", "c-1", "source")
    waited = parser.parse_args(["sync-now", "nightly", "--wait", "--timeout", "5"])
    assert (waited.wait, waited.timeout) == (True, 5.0)


def test_all_namespaces_is_refused_where_one_resource_is_meant() -> None:
    args = command.parser().parse_args(["-A", "pause", "shop"])
    with pytest.raises(PluginError, match="-A/--all-namespaces works with status only"):
        args.action(object(), None, args)


def test_status_of_one_name_shows_it_in_each_namespace_with_its_own_jobs_and_policy() -> None:
    def shop(namespace: str, policy: str) -> dict[str, Any]:
        return resource("SyncPipeline", "shop", namespace, {**shop_spec(), "conflictPolicyRef": {"name": policy}})

    pipelines = [shop("prod", "careful"), shop("staging", "lenient"), resource("SyncPipeline", "other", "prod", {})]
    jobs = [
        resource("ReconciliationJob", "nightly", "prod", {"pipelineRef": {"name": "shop"}}),
        resource("ReconciliationJob", "hourly", "staging", {"pipelineRef": {"name": "shop"}}),
        resource("ReconciliationJob", "other-nightly", "prod", {"pipelineRef": {"name": "other"}}),
        resource("ReconciliationJob", "stray", "test", {"pipelineRef": {"name": "shop"}}),
    ]
    policies = [
        resource("ConflictPolicy", "careful", "prod", {}),
        resource("ConflictPolicy", "careful", "staging", {}),
        resource("ConflictPolicy", "lenient", "staging", {}),
        resource("ConflictPolicy", "lenient", "prod", {}),
    ]

    def where(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items]

    chosen, its_jobs, its_policies = summary.select(pipelines, jobs, policies, "shop")
    assert where(chosen) == [("prod", "shop"), ("staging", "shop")]
    # A job in a namespace without a `shop` pipeline runs on another pipeline, not on these.
    assert where(its_jobs) == [("prod", "nightly"), ("staging", "hourly")]
    assert where(its_policies) == [("prod", "careful"), ("staging", "lenient")]
    assert summary.select(pipelines, jobs, policies, None) == (pipelines, jobs, policies)
    assert summary.select(pipelines, jobs, policies, "nope") == ([], [], [])


def test_a_status_the_operator_did_not_write_reads_as_empty() -> None:
    odd = pipeline(phase="Sleeping", conditions=[{"type": "Ready"}])
    row = summary.pipeline_row(odd, NOW)
    assert (row.ready, row.phase, row.synced) == ("Unknown", None, None)


def test_version_names_the_plugins_release_and_each_operators() -> None:
    deployment = {
        "metadata": {
            "namespace": "graphsync-system",
            "name": "graphsync-operator",
            "labels": {"app.kubernetes.io/version": "0.0.9"},
        },
        "spec": {"template": {"spec": {"containers": [{"image": "registry.local:5000/graphsync:0.0.9"}]}}},
        "status": {"readyReplicas": 1},
    }
    untagged = {
        "metadata": {"namespace": "team-a", "name": "gs"},
        "spec": {"template": {"spec": {"containers": [{"image": "registry.local:5000/graphsync:0.1.0"}]}}},
    }
    found = version.operators([untagged, deployment])
    assert [(o["namespace"], o["version"], o["ready"]) for o in found] == [
        ("graphsync-system", "0.0.9", 1),
        ("team-a", "0.1.0", 0),  # no version label: the image's tag
    ]
    lines = version.text(version.report(found)).splitlines()
    assert lines[0] == f"plugin    {__version__}"
    assert lines[1].startswith(f"operator  0.0.9 (differs from the plugin's {__version__})  graphsync-system/")
    assert "(differs" not in lines[2]
    refused = version.text(version.report(None, "cannot list Deployments in all namespaces: 403 Forbidden"))
    assert refused.splitlines()[1] == "operator  unknown: cannot list Deployments in all namespaces: 403 Forbidden"
    assert "none found" in version.text(version.report([]))


def test_the_plugin_says_its_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        command.parser().parse_args(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"kubectl-graphsync {__version__}"
    assert command.parser().parse_args(["version", "-o", "json"]).output == "json"
