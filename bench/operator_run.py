"""bench.operator's run: apply the pipelines, poll until all are reconciled, then count a steady window.

`Bench` holds one run against a control plane that `bench.operator.measure` set up and
tears down; an optional restart of the operator ends it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from tests.resources import resource, shop_spec

from bench import common
from bench.operator_audit import between, breakdown, handled, read_audit
from bench.operator_cluster import NAMESPACE, Admin, start_apply
from bench.operator_process import Operator, cpu_seconds, loadavg, machine_cpu, proc_sample
from graphsync_dev import process
from graphsync_dev.process import SubstrateError
from graphsync_dev.service import Service
from graphsync_operator.build import names
from graphsync_operator.controller.assess import START_GRACE

STATUS_INTERVAL = 5.0  # the operator's default: GRAPHSYNC_STATUS_INTERVAL is not passed on
MANAGED = f"{names.MANAGED_BY_LABEL}={names.MANAGED_BY}"
# Every child a continuously running pipeline gets: (list path, kind).
CHILDREN = (
    ("/apis/apps/v1/namespaces/{ns}/deployments", "Deployment"),
    ("/api/v1/namespaces/{ns}/services", "Service"),
    ("/api/v1/namespaces/{ns}/configmaps", "ConfigMap"),
    ("/api/v1/namespaces/{ns}/serviceaccounts", "ServiceAccount"),
    ("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", "Role"),
    ("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings", "RoleBinding"),
    ("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases", "Lease"),
)
PIPELINES = "/apis/graphsync.io/v1alpha1/namespaces/{ns}/syncpipelines"


# --- the run ---------------------------------------------------------------------------------


def pipelines_file(count: int, path: Path) -> Path:
    """One multi-document file: the shop pipeline (passwords from the Secret) N times, each its own schema."""
    docs = [resource("SyncPipeline", f"pipe-{i:04d}", NAMESPACE, shop_spec(schema=f"shop_{i}")) for i in range(count)]
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return path


def reconciled_now(admin: Admin, created: dict[str, float]) -> tuple[set[str], dict[str, Any]]:
    """Pipelines reconciled right now: one list of the pipelines, one per child kind. Notes creation times."""
    owned: dict[str, set[str]] = defaultdict(set)
    for path, kind in CHILDREN:
        for item in admin.list(path, selector=MANAGED, metadata_only=True):
            pipeline = (item["metadata"].get("labels") or {}).get(names.PIPELINE_LABEL)
            if pipeline and not item["metadata"].get("deletionTimestamp"):
                owned[pipeline].add(kind)
    every = {kind for _, kind in CHILDREN}
    done, phases, reasons = set(), Counter[str](), Counter[str]()
    for item in admin.list(PIPELINES):
        meta, status = item["metadata"], item.get("status") or {}
        created.setdefault(meta["name"], datetime.fromisoformat(meta["creationTimestamp"]).timestamp())
        conditions = status.get("conditions") or []
        phases[str(status.get("phase"))] += 1
        ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
        reasons[f"Ready={ready.get('status')} {ready.get('reason')}"] += 1
        if status.get("observedGeneration") == meta.get("generation") and conditions and owned[meta["name"]] >= every:
            done.add(meta["name"])
    return done, {"phases": dict(phases), "ready": dict(reasons)}


@dataclass
class Bench:
    count: int
    env: Mapping[str, str]
    admin: Admin
    cluster: Service
    audit: Path
    launch: Callable[[], Operator]

    def run(
        self, steady_seconds: float, settle_seconds: float, timeout: float, backlog: bool, restart: bool
    ) -> dict[str, Any]:
        manifests = pipelines_file(self.count, Path(self.env["KUBECONFIG"]).parent / "pipelines.yaml")
        started = time.time()
        operator = None if backlog else self.launch()
        time.sleep(5)  # the operator's other watches open meanwhile
        idle_rss = operator.samples[-1].rss_kib if operator and operator.samples else None
        load_before = loadavg()
        log(f"applying {self.count} SyncPipelines{' with no operator running' if backlog else ''} (load {load_before})")
        applied_at = time.time()
        applying = start_apply(self.env, manifests)
        try:
            polled = Polled()
            if operator is None:
                self._applied(applying, manifests)
                polled.apply_at = time.time()
                log(f"kubectl apply returned after {polled.apply_at - applied_at:.1f} s; starting the operator")
                started = time.time()
                operator = self.launch()
            origin = started if backlog else applied_at  # the clock of the reconciliation starts here
            self._poll(polled, operator, applying, manifests, origin, timeout)
        finally:
            if applying.poll() is None:
                applying.kill()
                applying.wait()
        apply_seconds = polled.apply_at - applied_at
        all_at = time.time()

        time.sleep(settle_seconds)
        steady_start = time.time()
        busy0, total0 = machine_cpu()
        op0, cp0 = cpu_seconds([operator.child.pid]), cpu_seconds(self.cluster.pids)
        log(f"counting the operator's requests for {steady_seconds:.0f} s")
        time.sleep(steady_seconds)
        steady_end = time.time()
        busy1, total1 = machine_cpu()
        op1, cp1 = cpu_seconds([operator.child.pid]), cpu_seconds(self.cluster.pids)
        load_steady = loadavg()
        _, final_states = reconciled_now(self.admin, {})
        time.sleep(2)  # the audit log catches up with the last responses
        audited = read_audit(self.audit)
        requests = audited.requests
        # From each pipeline's creation, or the operator's start when it came later (backlog).
        by_audit = sorted(at - max(audited.created[name], origin) for name, at in handled(audited).items())
        own = sorted(at - max(polled.created[name], origin) for name, at in polled.first_at.items())
        samples = list(operator.samples)
        last = proc_sample(operator.child.pid) or samples[-1]
        steady_rss = [s.rss_kib for s in samples if steady_start <= s.at <= steady_end]
        reconcile_cpu = [s.cpu_seconds for s in samples if origin <= s.at <= all_at]
        minutes = (steady_end - steady_start) / 60
        cores = os.cpu_count() or 1
        timeline = Counter(int((r.at - origin) // 10) * 10 for r in requests if not r.watch and r.at >= origin)
        text = operator.log.read_text(errors="replace")
        problems = [line for line in text.splitlines() if " ERROR " in line or " WARNING " in line]
        reconciled = len(polled.first_at)
        restarted = self.restart(operator, max(audited.created.values(), default=0.0), timeout) if restart else None
        return {
            "pipelines": self.count,
            "mode": "backlog: operator started after the apply" if backlog else "operator running, then one apply",
            "machine": {
                "cores": cores,
                "load_average_before_apply": load_before,
                "load_average_end_of_steady": load_steady,
                "busy_cores_during_steady": round((busy1 - busy0) / (total1 - total0) * cores, 2),
                "operator_cores_during_steady": round((op1 - op0) / (steady_end - steady_start), 3),
                "control_plane_cores_during_steady": round((cp1 - cp0) / (steady_end - steady_start), 3),
            },
            "apply_seconds": round(apply_seconds, 1),
            "reconciled": reconciled,
            "reconcile_seconds": round(all_at - origin, 1) if reconciled >= self.count else None,
            "per_pipeline_seconds": spread([at - origin for at in polled.first_at.values()]),
            "per_pipeline_seconds_from_creation": spread(own),
            "per_pipeline_seconds_from_creation_by_audit": {"pipelines": len(by_audit), **spread(by_audit, 2)},
            "polls": {
                "count": len(polled.durations),
                "p50_seconds": round(common.percentile(polled.durations, 0.5), 2),
                "p100_seconds": round(max(polled.durations), 2),
            },
            "operator_cpu_seconds_during_reconcile": round(reconcile_cpu[-1] - reconcile_cpu[0], 1)
            if len(reconcile_cpu) > 1
            else None,
            "status_at_reconciled": polled.states,
            "status_at_end": final_states,
            "operator_idle_rss_mib": round(idle_rss / 1024, 1) if idle_rss is not None else None,
            "operator_peak_rss_mib": round(max(last.hwm_kib, *(s.hwm_kib for s in samples)) / 1024, 1),
            "operator_steady_rss_mib": round(common.median(steady_rss) / 1024, 1) if steady_rss else None,
            "operator_end_rss_mib": round(last.rss_kib / 1024, 1),
            "startup": None if backlog else breakdown(between(requests, started, applied_at), self.count, None),
            "reconcile": breakdown(between(requests, origin, all_at), self.count, None),
            "settle": breakdown(between(requests, all_at, steady_start), self.count, None),
            "steady": {
                "seconds": round(steady_end - steady_start, 1),
                **breakdown(between(requests, steady_start, steady_end), self.count, minutes),
            },
            "requests_per_10s": [timeline[t] for t in range(0, int(steady_end - origin) + 10, 10)],
            "operator_log": {
                "errors": sum(" ERROR " in line for line in problems),
                "warnings": sum(" WARNING " in line for line in problems),
                "tracebacks": text.count("Traceback"),
                "first": problems[:10],
            },
            "restart": restarted,
        }

    def restart(self, operator: Operator, last_created: float, timeout: float, quiet: float = 20) -> dict[str, Any]:
        """Stop the operator and start another, as an upgrade would: it resumes every pipeline.

        Waits first until every pipeline is past the start-up grace (its one WorkersNotReporting
        transition made), then counts the new operator's requests until none came for `quiet` s.
        """
        wait = last_created + START_GRACE.total_seconds() + 2 * STATUS_INTERVAL + 5 - time.time()
        if wait > 0:
            log(f"waiting {wait:.0f} s for every pipeline to pass its start-up grace before the restart")
            time.sleep(wait)
        operator.stop()
        log_size = operator.log.stat().st_size
        started = time.time()
        log("restarting the operator")
        renewed = self.launch()
        last = started
        while time.time() - last < quiet and time.time() - started < timeout:
            time.sleep(5)
            found = [r.at for r in read_audit(self.audit).requests if r.at >= started and not r.watch]
            last = max(found, default=started)
        requests = between(read_audit(self.audit).requests, started, last + 1)
        samples = list(renewed.samples)
        with renewed.log.open(errors="replace") as text:
            text.seek(log_size)
            lines = text.read().splitlines()
        problems = [line for line in lines if " ERROR " in line or " WARNING " in line]
        return {
            "seconds_until_quiet": round(last - started, 1),
            "operator_peak_rss_mib": round(max(s.hwm_kib for s in samples) / 1024, 1) if samples else None,
            "operator_log_errors": sum(" ERROR " in line for line in problems),
            "operator_log_first": problems[:5],
            **breakdown(requests, self.count, None),
        }

    @staticmethod
    def _applied(applying: subprocess.Popen[bytes], manifests: Path) -> None:
        if applying.wait() != 0:
            raise SubstrateError(f"kubectl apply failed: {process.log_tail(manifests.parent / 'kubectl-apply.log')}")

    def _poll(
        self,
        polled: Polled,
        operator: Operator,
        applying: subprocess.Popen[bytes],
        manifests: Path,
        origin: float,
        timeout: float,
    ) -> None:
        """Poll about every second until every pipeline is reconciled (or `timeout` passed)."""
        while True:
            poll_at = time.time()
            done, polled.states = reconciled_now(self.admin, polled.created)
            polled.durations.append(time.time() - poll_at)
            for name in done:
                polled.first_at.setdefault(name, poll_at)
            if not polled.apply_at and applying.poll() is not None:
                polled.apply_at = time.time()
                self._applied(applying, manifests)
                log(f"kubectl apply done ({len(polled.first_at)}/{self.count} reconciled)")
            if (len(polled.first_at) >= self.count and polled.apply_at) or poll_at - origin > timeout:
                break
            if not operator.alive():
                raise SubstrateError(f"the operator exited:\n{process.log_tail(operator.log)}")
            if len(polled.durations) % 15 == 0:
                log(f"{poll_at - origin:6.0f} s: {len(polled.first_at)}/{self.count} reconciled; {polled.states}")
            time.sleep(max(0.0, 1.0 - (time.time() - poll_at)))
        log(f"{len(polled.first_at)}/{self.count} reconciled after {time.time() - origin:.1f} s; {polled.states}")


@dataclass
class Polled:
    first_at: dict[str, float] = field(default_factory=dict)  # pipeline -> the poll that first found it reconciled
    created: dict[str, float] = field(default_factory=dict)  # pipeline -> creationTimestamp (whole seconds)
    durations: list[float] = field(default_factory=list)
    states: dict[str, Any] = field(default_factory=dict)
    apply_at: float = 0.0  # when the poll found kubectl apply done


def spread(values: list[float], digits: int = 1) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p90": None, "p100": None}
    ordered = sorted(values)
    return {
        "p50": round(common.percentile(ordered, 0.5), digits),
        "p90": round(common.percentile(ordered, 0.9), digits),
        "p100": round(ordered[-1], digits),
    }


def log(message: str) -> None:
    print(f"[bench.operator {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
