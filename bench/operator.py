"""The operator at scale: N SyncPipelines applied at once to a private control plane.

Measures the time until every pipeline is reconciled (status.observedGeneration equal to
metadata.generation, conditions set, and its Deployment, Service, ConfigMap, ServiceAccount,
Role, RoleBinding and Lease all there), the operator's peak and steady memory, and the API
requests it makes: during the initial reconciliation, and at steady state per pipeline per
minute, by verb and resource.

The operator runs as a child process with default settings (status refresh every 5 s) under
its own identity, the ServiceAccount `graphsync-operator` bound to cluster-admin, so the
API server's audit log (on for this run only; it records that user's requests, and the
pipelines' creation) counts its requests apart from everyone else's. A request counts once:
when its response completed, except a watch, which counts when it opened (its response starts
then and lasts many minutes). No worker runs (the specs' URLs need not resolve), so pipelines
wait for workers; kwok's one fake node takes 110 pods, so most worker pods stay Pending.

    .venv/bin/python -m bench.operator --pipelines 500 --steady-seconds 120

--backlog applies before the operator starts (its own throughput, without kubectl's pace);
--restart ends with a restart of the operator (its resume of every pipeline). Prints a table
(stderr) and the results as JSON (stdout, and --out FILE).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bench.operator_audit import AUDIT_POLICY, wait_for_watch
from bench.operator_cluster import Admin, install_crds, operator_kubeconfig, prepare_namespace, wait_for_storage
from bench.operator_process import Operator
from bench.operator_run import Bench, log
from graphsync_dev import kube, process, substrate


def measure(
    count: int, steady_seconds: float, settle_seconds: float, timeout: float, backlog: bool, restart: bool
) -> dict[str, Any]:
    run_dir = substrate.new_run_dir("graphsync-bench-operator-")
    audit = run_dir / "audit"
    audit.mkdir()
    policy = run_dir / "audit-policy.yaml"
    policy.write_text(yaml.safe_dump(AUDIT_POLICY))
    flags = {"audit-policy-file": policy, "audit-log-path": audit / "audit.log", "audit-log-maxsize": 1024}
    log(f"control plane in {run_dir}")
    cluster = kube.start(run_dir, apiserver_flags=flags)
    operators: list[Operator] = []
    try:
        env = cluster.env
        admin = Admin(Path(env["KUBECONFIG"]), run_dir / "bench-admin")
        install_crds(env)
        prepare_namespace(env)
        kubeconfig = operator_kubeconfig(env, admin, run_dir / "operator-kubeconfig")
        wait_for_storage(admin)

        def launch() -> Operator:
            operator = Operator.start(kubeconfig, run_dir / "logs" / "operator.log")
            operators.append(operator)
            wait_for_watch(operator, audit, "syncpipelines", timeout=120)
            return operator

        bench = Bench(count, env, admin, cluster, audit, launch)
        return bench.run(steady_seconds, settle_seconds, timeout, backlog, restart)
    finally:
        for operator in operators:
            operator.stop()
        for pid in reversed(cluster.pids):
            process.stop(pid)
        if os.environ.get("GRAPHSYNC_BENCH_KEEP"):
            log(f"kept {run_dir}")
        else:
            shutil.rmtree(run_dir, ignore_errors=True)


# --- output ----------------------------------------------------------------------------------


def table(results: dict[str, Any]) -> str:
    machine, backlog = results["machine"], results["mode"].startswith("backlog")

    def trio(found: Mapping[str, Any]) -> str:
        return " / ".join(str(found[key]) for key in ("p50", "p90", "p100"))

    rows = [
        ("pipelines", f"{results['pipelines']} ({results['mode']})"),
        ("kubectl apply (s)", results["apply_seconds"]),
        ("reconciled", f"{results['reconciled']}/{results['pipelines']}"),
        (f"seconds to reconcile all, from {'operator start' if backlog else 'apply'}", results["reconcile_seconds"]),
        ("  per pipeline, p50 / p90 / p100 (s)", trio(results["per_pipeline_seconds"])),
        (
            "  from its creation (s)" + (" or operator start" if backlog else ""),
            trio(results["per_pipeline_seconds_from_creation"]),
        ),
        ("  the same by the audit log (s)", trio(results["per_pipeline_seconds_from_creation_by_audit"])),
        ("  polls made / p50 / p100 poll time (s)", " / ".join(str(v) for v in results["polls"].values())),
        ("operator CPU seconds during reconcile", results["operator_cpu_seconds_during_reconcile"]),
        (
            "operator RSS idle / peak / steady (MiB)",
            f"{results['operator_idle_rss_mib']} / {results['operator_peak_rss_mib']} / "
            f"{results['operator_steady_rss_mib']}",
        ),
        ("requests per pipeline, reconcile", results["reconcile"]["per_pipeline"]),
        ("requests per pipeline per minute, steady", results["steady"]["per_pipeline"]),
        ("operator cores at steady state", machine["operator_cores_during_steady"]),
        ("control plane cores at steady state", machine["control_plane_cores_during_steady"]),
        ("machine busy cores at steady state", f"{machine['busy_cores_during_steady']} of {machine['cores']}"),
        (
            "load average before apply / end",
            f"{machine['load_average_before_apply']} / {machine['load_average_end_of_steady']}",
        ),
        (
            "operator log errors / warnings",
            f"{results['operator_log']['errors']} / {results['operator_log']['warnings']}",
        ),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name:<{width}}  {value}" for name, value in rows]
    phases = [("reconcile", "per pipeline"), ("steady", "per pipeline per minute")]
    if results["restart"] is not None:
        restart = results["restart"]
        lines.append(
            f"{'restart: seconds until quiet / peak RSS MiB':<{width}}  "
            f"{restart['seconds_until_quiet']} / {restart['operator_peak_rss_mib']}"
        )
        lines.append(
            f"{'restart: requests per pipeline / log errors':<{width}}  "
            f"{restart['per_pipeline']} / {restart['operator_log_errors']}"
        )
        phases.append(("restart", "per pipeline"))
    for phase, unit in phases:
        lines += ["", f"{phase}: requests by verb and resource (count, {unit}, distinct objects)"]
        for key, found in results[phase]["by_request"].items():
            lines.append(f"  {key:<44} {found['count']:>7}  {found['per_pipeline']:>8}  {found['objects']:>5}")
        for key, found in results[phase]["watches_opened"].items():
            lines.append(f"  {key + ' (opened)':<44} {found:>7}")
        for key, found in results[phase]["errors"].items():
            lines.append(f"  error: {key:<37} {found:>7}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=500)
    parser.add_argument("--steady-seconds", type=float, default=120, help="the steady-state window counted")
    parser.add_argument(
        "--settle-seconds",
        type=float,
        default=420,
        # No worker runs here, so 5 minutes after its rollout each pipeline turns Degraded (WorkersNotReporting):
        # one status write and two Events each. Steady state begins after that.
        help="wait after all are reconciled, before counting steady-state requests",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="give up waiting for reconciliation after this")
    parser.add_argument(
        "--backlog",
        action="store_true",
        help="apply first, then start the operator: its own throughput, without kubectl's pace (times from its start)",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="at the end, restart the operator (once every pipeline is past its start-up grace) and count its resume",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON results here")
    args = parser.parse_args()
    results = measure(
        args.pipelines, args.steady_seconds, args.settle_seconds, args.timeout, args.backlog, args.restart
    )
    print(table(results), file=sys.stderr)
    text = json.dumps(results, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
