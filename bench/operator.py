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
import base64
import http.client
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import yaml
from tests.resources import resource, shop_spec

from bench import common
from graphsync.devenv import kube, process, substrate
from graphsync.devenv.process import SubstrateError
from graphsync.devenv.service import Service
from graphsync_operator.assess import START_GRACE
from graphsync_operator.build import names
from graphsync_operator.crds import all_crds

NAMESPACE = "bench-operator"
ACCOUNT = "graphsync-operator"
OPERATOR_USER = f"system:serviceaccount:{NAMESPACE}:{ACCOUNT}"
STATUS_INTERVAL = 5.0  # the operator's default: GRAPHSYNC_STATUS_INTERVAL is not passed on
SECRET = "shop-db"  # what tests.resources.shop_spec's secretKeyRefs name
VENV_BIN = Path(__file__).parents[1] / ".venv" / "bin"
MANAGED = f"app.kubernetes.io/managed-by={names.MANAGED_BY}"
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
# The operator's own requests, and the creation of each pipeline (by kubectl, to time each one from its
# creation). RequestReceived is left out, so an ordinary request leaves one ResponseComplete line; a watch
# also leaves ResponseStarted when it opens.
AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        {"level": "Metadata", "users": [OPERATOR_USER]},
        {
            "level": "Metadata",
            "verbs": ["create"],
            "resources": [{"group": "graphsync.io", "resources": ["syncpipelines"]}],
        },
        {"level": "None"},
    ],
}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the cluster, as its admin ---------------------------------------------------------------


class Admin:
    """A keep-alive HTTPS client with the admin certificate, for the polling (not audited)."""

    def __init__(self, kubeconfig: Path, folder: Path) -> None:
        config = json.loads(kubeconfig.read_text())
        cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
        folder.mkdir(parents=True, exist_ok=True)
        files = {}
        for name, key in (("ca.crt", "certificate-authority-data"), ("admin.crt", "client-certificate-data")):
            files[name] = folder / name
            files[name].write_bytes(base64.b64decode(cluster.get(key) or user[key]))
        files["admin.key"] = folder / "admin.key"
        files["admin.key"].write_bytes(base64.b64decode(user["client-key-data"]))
        files["admin.key"].chmod(0o600)
        self.server = cluster["server"]
        self.ca_data = cluster["certificate-authority-data"]
        self.context = ssl.create_default_context(cafile=str(files["ca.crt"]))
        self.context.load_cert_chain(files["admin.crt"], files["admin.key"])
        where = urlsplit(self.server)
        self.host, self.port = where.hostname or "127.0.0.1", where.port or 443
        self.conn: http.client.HTTPSConnection | None = None

    def list(self, path: str, *, selector: str = "", metadata_only: bool = False) -> list[dict[str, Any]]:
        query = f"?{urlencode({'labelSelector': selector})}" if selector else ""
        accept = "application/json"
        if metadata_only:
            accept = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        for attempt in range(3):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.context, timeout=60)
            try:
                self.conn.request("GET", path.format(ns=NAMESPACE) + query, headers={"Accept": accept})
                response = self.conn.getresponse()
                body = response.read()
            except (OSError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                continue
            if response.status != 200:
                raise SubstrateError(f"GET {path}: {response.status} {body[:300]!r}")
            items: list[dict[str, Any]] = json.loads(body).get("items") or []  # null when there are none
            return items
        raise AssertionError("unreachable")


def kubectl_ok(env: Mapping[str, str], *args: str, input: str | None = None) -> str:
    result = kube.kubectl(env, *args, input=input)
    if result.returncode != 0:
        raise SubstrateError(f"kubectl {' '.join(args)[:200]} failed: {result.stderr.strip()[-2000:]}")
    return result.stdout


def install_crds(env: Mapping[str, str]) -> None:
    kubectl_ok(env, "apply", "-f", "-", input=yaml.safe_dump_all(list(all_crds().values())))
    for crd in all_crds().values():
        name = crd["metadata"]["name"]
        deadline = time.monotonic() + 60
        # Right after creation kubectl may find no conditions at all and give up instead of waiting.
        while kube.kubectl(env, "wait", "--for=condition=Established", f"crd/{name}", "--timeout=60s").returncode:
            if time.monotonic() > deadline:
                raise SubstrateError(f"CRD {name} not Established after 60 s")
            time.sleep(0.5)


def prepare_namespace(env: Mapping[str, str]) -> None:
    """The namespace, the Secret the pipelines reference, and the operator's identity (cluster-admin: simplest)."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET, "namespace": NAMESPACE},
        "stringData": {"pg-password": "bench", "neo4j-password": "bench"},
    }
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": ACCOUNT, "namespace": NAMESPACE}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": f"{ACCOUNT}-bench"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": ACCOUNT, "namespace": NAMESPACE}],
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    kubectl_ok(env, "apply", "-f", "-", input=yaml.safe_dump_all([namespace]))
    kubectl_ok(env, "apply", "-f", "-", input=yaml.safe_dump_all([secret, account, binding]))


def wait_for_storage(admin: Admin) -> None:
    """Established is not served yet: a list answers 429 "storage is (re)initializing" for a moment after."""
    deadline = time.monotonic() + 60
    for crd in all_crds().values():
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        path = f"/apis/{group}/{crd['spec']['versions'][0]['name']}/namespaces/{{ns}}/{plural}"
        while True:
            try:
                admin.list(path)
                break
            except SubstrateError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


def start_apply(env: Mapping[str, str], path: Path) -> subprocess.Popen[bytes]:
    """`kubectl apply -f` as a user runs it, in the background: the polling starts at once."""
    kubeconfig = env["KUBECONFIG"]
    cache = str(Path(kubeconfig).parent / "kubectl-cache")
    with (path.parent / "kubectl-apply.log").open("wb") as out:
        return subprocess.Popen(
            [env["GRAPHSYNC_KUBECTL"], "apply", "-f", str(path)],
            env={**os.environ, "KUBECONFIG": kubeconfig, "KUBECACHEDIR": cache},
            stdout=subprocess.DEVNULL,
            stderr=out,
        )


def operator_kubeconfig(env: Mapping[str, str], admin: Admin, path: Path) -> Path:
    token = kubectl_ok(env, "create", "token", ACCOUNT, "-n", NAMESPACE, "--duration=2h").strip()
    cluster = {"server": admin.server, "certificate-authority-data": admin.ca_data}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": cluster}],
        "users": [{"name": ACCOUNT, "user": {"token": token}}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": ACCOUNT, "namespace": NAMESPACE}}],
        "current-context": "bench",
    }
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)
    return path


# --- the operator process and its resources -------------------------------------------------


@dataclass
class Sample:
    at: float  # time.time()
    rss_kib: int
    hwm_kib: int
    cpu_seconds: float


@dataclass
class Operator:
    child: subprocess.Popen[bytes]
    log: Path
    samples: list[Sample] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def start(cls, kubeconfig: Path, log: Path) -> Operator:
        # Default settings: none of the operator's GRAPHSYNC_* variables from this shell reach it.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHSYNC_", "KUBE"))}
        env |= {"KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        argv = [str(VENV_BIN / "graphsync-operator"), "run", "-n", NAMESPACE]
        argv += ["--liveness", f"http://127.0.0.1:{process.free_port()}/healthz"]
        with log.open("ab") as out:
            child = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True
            )
        running = cls(child, log)
        threading.Thread(target=running._sample, daemon=True).start()
        return running

    def _sample(self) -> None:
        while not self.stopping.is_set() and self.child.poll() is None:
            found = proc_sample(self.child.pid)
            if found is not None:
                self.samples.append(found)
            time.sleep(0.5)

    def alive(self) -> bool:
        return self.child.poll() is None

    def stop(self) -> None:
        last = proc_sample(self.child.pid)
        if last is not None:
            self.samples.append(last)
        self.stopping.set()
        if self.child.poll() is None:
            os.killpg(self.child.pid, signal.SIGTERM)
            try:
                self.child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.child.pid, signal.SIGKILL)
                self.child.wait(timeout=10)


def proc_sample(pid: int) -> Sample | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    values = {}
    for line in status.splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    fields = stat.rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    return Sample(time.time(), values.get("VmRSS", 0), values.get("VmHWM", 0), cpu)


def cpu_seconds(pids: Iterable[int]) -> float:
    total = 0.0
    for pid in pids:
        found = proc_sample(pid)
        total += found.cpu_seconds if found else 0.0
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return float(sum(values) - idle), float(sum(values))


def loadavg() -> list[float]:
    return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]


# --- the audit log ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    at: float  # requestReceivedTimestamp, epoch seconds
    verb: str
    what: str  # resource[/subresource]
    name: str
    code: int
    watch: bool


@dataclass(frozen=True)
class Audit:
    requests: list[Request]  # the operator's, by the time they were received
    created: dict[str, float]  # pipeline -> when its creation completed


def read_audit(folder: Path) -> Audit:
    found, created = [], {}
    for path in sorted(folder.glob("*.log")):
        with path.open() as lines:
            for line in lines:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue  # a line cut by a rotation or still being written
                verb, stage = event.get("verb", ""), event.get("stage")
                ref = event.get("objectRef") or {}
                code = int((event.get("responseStatus") or {}).get("code", 0))
                if event.get("user", {}).get("username") != OPERATOR_USER:
                    if verb == "create" and stage == "ResponseComplete" and code == 201 and ref.get("name"):
                        created[ref["name"]] = datetime.fromisoformat(event["stageTimestamp"]).timestamp()
                    continue
                watch = verb == "watch"
                if stage != ("ResponseStarted" if watch else "ResponseComplete"):
                    continue
                what = ref.get("resource") or event.get("requestURI", "?").split("?")[0]
                if ref.get("subresource"):
                    what += f"/{ref['subresource']}"
                at = datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
                found.append(Request(at, verb, what, ref.get("name", ""), code, watch))
    return Audit(sorted(found, key=lambda r: r.at), created)


def handled(audit: Audit) -> dict[str, float]:
    """Pipeline -> when the operator had applied all its children and written its status (its first
    status patch after the last of them), as the audit log shows."""
    children: dict[str, Callable[[str], str]] = {
        "configmaps": names.config_map,
        "services": names.service,
        "deployments": names.deployment,
        "serviceaccounts": lambda p: names.account(p, "sync"),
        "roles": lambda p: names.account(p, "sync"),
        "rolebindings": lambda p: names.account(p, "sync"),
        "leases": lambda p: names.lease(p, "sync"),
    }
    first: dict[tuple[str, str], float] = {}
    statuses: dict[str, list[float]] = defaultdict(list)
    for r in audit.requests:
        if r.verb == "patch" and r.code < 300:
            first.setdefault((r.what, r.name), r.at)
            if r.what == "syncpipelines/status":
                statuses[r.name].append(r.at)
    done = {}
    for pipeline in audit.created:
        applied = [first.get((what, name(pipeline))) for what, name in children.items()]
        if any(at is None for at in applied):
            continue
        last = max(at for at in applied if at is not None)
        status = next((at for at in statuses[pipeline] if at >= last), None)
        if status is not None:
            done[pipeline] = status
    return done


def between(requests: Iterable[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.at < end]


def breakdown(requests: list[Request], pipelines: int, minutes: float | None) -> dict[str, Any]:
    """Counts by "verb resource"; per pipeline (per minute when `minutes` is given); distinct objects named."""
    calls = [r for r in requests if not r.watch]
    counts = Counter(f"{r.verb} {r.what}" for r in calls)
    objects: dict[str, set[str]] = defaultdict(set)
    for r in calls:
        objects[f"{r.verb} {r.what}"].add(r.name)
    scale = pipelines * (minutes or 1.0)
    by_request = {
        key: {"count": count, "per_pipeline": round(count / scale, 3), "objects": len(objects[key] - {""})}
        for key, count in counts.most_common()
    }
    errors = Counter(f"{r.verb} {r.what} {r.code}" for r in calls if r.code >= 400)
    watches = Counter(f"watch {r.what}" for r in requests if r.watch)
    return {
        "requests": len(calls),
        "per_pipeline": round(len(calls) / scale, 3),
        "by_request": by_request,
        "errors": dict(errors.most_common()),
        "watches_opened": dict(watches.most_common()),
    }


def wait_for_watch(operator: Operator, audit: Path, resource_name: str, timeout: float) -> None:
    """The operator is up once it watches the pipelines (as the audit log shows)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not operator.alive():
            raise SubstrateError(f"the operator exited:\n{process.log_tail(operator.log)}")
        if any(r.watch and r.what == resource_name for r in read_audit(audit).requests):
            return
        time.sleep(1)
    raise SubstrateError(f"the operator did not watch {resource_name} in {timeout:.0f}s")


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


def log(message: str) -> None:
    print(f"[bench.operator {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipelines", type=int, default=500)
    parser.add_argument("--steady-seconds", type=float, default=120, help="the steady-state window counted")
    parser.add_argument("--settle-seconds", type=float, default=30, help="wait after all are reconciled")
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
