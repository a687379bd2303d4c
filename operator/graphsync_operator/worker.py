"""`graphsync-operator worker sync|reconcile|cleanup -f CONFIG`: the process a worker pod runs.

It runs the engine exactly as `graphsync run`, `graphsync reconcile` and `graphsync cleanup` do (same spec
loading, same signals, same exit codes), and besides serves /healthz, /readyz and
/metrics and reports its progress to the operator in the pipeline's Lease (one
annotation per pod, see `progress`). The Deployment says who the worker is through the
environment; without GRAPHSYNC_LEASE nothing is reported, so it also runs on a laptop.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TypeVar

from pydantic import ValidationError

from graphsync import deadletters, logs
from graphsync.cleanup import CleanupError, cleanup
from graphsync.commands import cleanup as cleanup_command
from graphsync.commands import reconcile as reconcile_command
from graphsync.commands import specfile
from graphsync.commands.progress import summary_text
from graphsync.pipelines import run as pipeline_run
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.runner.control import RunControl
from graphsync.spec.pipeline import Mode, PipelineSpec
from graphsync.spec.reconcile import ReconcileSpec
from graphsync_operator import heartbeat, kube, progress
from graphsync_operator.health import DeadLetterCount, Extras, HealthServer
from graphsync_operator.heartbeat import Ending, Reporter
from graphsync_operator.inspection import Inspector
from graphsync_operator.progress import WorkerState
from graphsync_operator.snapshot import Snapshot

log = logging.getLogger(__name__)
DEFAULT_HTTP_PORT = 8080
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class Identity:
    """Who the worker is, from the environment the Deployment sets (the downward API for the pod)."""

    pod: str
    namespace: str | None = None
    # The Lease the operator created for the pipeline; the worker may only get and patch it.
    lease: str | None = None
    http_port: int = DEFAULT_HTTP_PORT
    heartbeat_seconds: float = progress.HEARTBEAT_SECONDS
    stuck_seconds: float = progress.STUCK_SECONDS
    # Of the config the pod was made for: the operator counts only reports of the current one.
    config_hash: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Identity:
        """Raises ValueError naming the variable that is not a valid value."""
        port = _number(env, "GRAPHSYNC_HTTP_PORT", int, DEFAULT_HTTP_PORT)
        if not 0 <= port <= 65535:
            raise ValueError(f"GRAPHSYNC_HTTP_PORT: {port} is not a port number")
        beat = _number(env, "GRAPHSYNC_HEARTBEAT_SECONDS", float, progress.HEARTBEAT_SECONDS)
        if not beat > 0:
            raise ValueError(f"GRAPHSYNC_HEARTBEAT_SECONDS: {beat} is not a positive number of seconds")
        stuck = _number(env, "GRAPHSYNC_STUCK_SECONDS", float, progress.STUCK_SECONDS)
        if not stuck > 0:
            raise ValueError(f"GRAPHSYNC_STUCK_SECONDS: {stuck} is not a positive number of seconds")
        return cls(
            pod=env.get("POD_NAME") or env.get("HOSTNAME") or socket.gethostname(),
            namespace=env.get("POD_NAMESPACE") or None,
            lease=env.get("GRAPHSYNC_LEASE") or None,
            http_port=port,
            heartbeat_seconds=beat,
            stuck_seconds=stuck,
            config_hash=env.get("GRAPHSYNC_CONFIG_HASH") or None,
        )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser("worker", help="what a worker pod runs: the engine, reporting to the operator")
    commands = worker.add_subparsers(dest="worker_command", required=True)
    sync = commands.add_parser("sync", help="run a pipeline until stopped (SIGTERM) or, with --until-idle, done")
    sync.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
    sync.add_argument("--until-idle", action="store_true", help="stop once nothing is left to sync")
    sync.add_argument(
        "--role",
        choices=("all", "relay", "consumer"),
        default="all",
        help="streaming modes: run the relay, the consumer, or both (default)",
    )
    sync.set_defaults(handler=run_sync)
    check = commands.add_parser("reconcile", help="compare a pipeline's source and target; report or repair")
    reconcile_command.add_job_arguments(check)
    check.set_defaults(handler=run_reconcile)
    clean = commands.add_parser("cleanup", help="remove what a deleted pipeline created outside Kubernetes")
    clean.add_argument("-f", "--file", type=Path, required=True, help="a pipeline spec or SyncPipeline manifest")
    clean.set_defaults(handler=run_cleanup)


def run_sync(args: argparse.Namespace) -> int:
    """Exit status as `graphsync run`: 2 for a bad spec, 1 when items failed, else 0."""
    stop = _prepare()
    tracker = heartbeat.Tracker()
    extras = Extras(snapshot=tracker.snapshot)
    with _reporting("sync", tracker.snapshot, extras) as reporter:
        if reporter is None:
            return 2
        try:
            spec = specfile.load(args.file)
        except specfile.SpecError as exc:
            return _refuse(reporter, "sync", str(exc))
        _name(extras, spec)
        extras.dead_letters = DeadLetterCount(lambda: deadletters.open_count(spec)).start()
        extras.inspect = Inspector(spec)
        reporter.one_shot = args.until_idle or spec.mode is Mode.SNAPSHOT
        control = RunControl(
            stop=stop,
            until_idle=args.until_idle,
            on_batch=tracker,
            relay=args.role in ("all", "relay"),
            consume=args.role in ("all", "consumer"),
            probe_seconds=reporter.interval,
            history=True,
            on_backfills=tracker.backfills,
            on_resets=tracker.checkpoint_resets,
            on_schema=tracker.schema_changes,
        )
        try:
            stats = pipeline_run.run(spec, control)
        except ValueError as exc:
            return _refuse(reporter, "sync", str(exc))
        except Exception as exc:
            log.exception("the run failed")
            reporter.finish(Ending(WorkerState.FAILED, f"{type(exc).__name__}: {exc}"))
            return 1
        tracker.settle(stats)
        reporter.finish(Ending(WorkerState.FINISHED))
    print(summary_text(stats.summary()))
    return 1 if stats.failed else 0


def _one_shot() -> tuple[list[float], Callable[[], Snapshot | None]]:
    """For runs that report no progress until they end: append the start time, and they read as running from then."""
    began: list[float] = []

    def running() -> Snapshot | None:
        return Snapshot(progressed_at=began[0]) if began else None

    return began, running


def run_reconcile(args: argparse.Namespace) -> int:
    """Exit status as `graphsync reconcile`: 2 for a bad spec or job, 1 when differences remain or it failed."""
    stop = _prepare()
    began, running = _one_shot()
    extras = Extras()
    with _reporting("reconcile", running, extras) as reporter:
        if reporter is None:
            return 2
        reporter.one_shot = True
        try:
            spec = specfile.load(args.file)
            _name(extras, spec)
            job = ReconcileSpec.model_validate(reconcile_command.job_document(args))
        except specfile.SpecError as exc:
            return _refuse(reporter, "reconcile", str(exc))
        except ValidationError as exc:
            return _refuse(reporter, "reconcile", f"invalid options:\n{specfile.format_errors(exc)}")
        began.append(time.time())
        try:
            report = reconcile(spec, job, stop)
        except ValueError as exc:
            return _refuse(reporter, "reconcile", str(exc))
        except Exception as exc:
            # The comparison's own failures are in the report; this is the audit store out of reach, say.
            log.exception("the reconciliation failed")
            reporter.finish(Ending(WorkerState.FAILED, f"{type(exc).__name__}: {exc}"))
            return 1
        summary = report.summary()
        failed = report.outcome is Outcome.FAILED
        reporter.finish(
            Ending(WorkerState.FAILED if failed else WorkerState.FINISHED, report.error),
            reconciliation=progress.Reconciliation.model_validate(summary),
        )
    print(reconcile_command.report_text(summary))
    return 0 if report.outcome in (Outcome.IN_SYNC, Outcome.REPAIRED) else 1


def run_cleanup(args: argparse.Namespace) -> int:
    """Exit status as `graphsync cleanup`: 2 for a bad spec, 1 when a side could not be cleaned up, else 0."""
    _prepare()
    began, running = _one_shot()
    extras = Extras()
    with _reporting("cleanup", running, extras) as reporter:
        if reporter is None:
            return 2
        reporter.one_shot = True
        try:
            spec = specfile.load(args.file)
        except specfile.SpecError as exc:
            return _refuse(reporter, "cleanup", str(exc))
        _name(extras, spec)
        began.append(time.time())
        try:
            report = cleanup(spec)
        except CleanupError as exc:
            # Every side that failed is named; what the others removed is printed too.
            reporter.finish(Ending(WorkerState.FAILED, str(exc)))
            print(cleanup_command.report_text(exc.report.summary()))
            for error in exc.report.errors:
                print(f"graphsync-operator worker cleanup: {error}", file=sys.stderr)
            return 1
        except Exception as exc:
            log.exception("the cleanup failed")
            reporter.finish(Ending(WorkerState.FAILED, f"{type(exc).__name__}: {exc}"))
            return 1
        reporter.finish(Ending(WorkerState.FINISHED))
    print(cleanup_command.report_text(report.summary()))
    return 0


def _name(extras: Extras, spec: PipelineSpec) -> None:
    """From here on, metrics and log lines name the pipeline."""
    extras.pipeline = spec.name
    logs.bind(pipeline=spec.name)


def _prepare() -> threading.Event:
    """Logging, one line per event (GRAPHSYNC_LOG_FORMAT: text, or json in pods; GRAPHSYNC_LOG_LEVEL: the
    pipeline's `workers.logLevel`); SIGTERM and SIGINT finish the batch in flight, checkpoint it, and end the run."""
    try:
        log_format = logs.choose(os.environ.get(logs.ENV))
        level = logs.level_of(os.environ.get(logs.LEVEL_ENV))
    except ValueError as exc:
        print(f"graphsync-operator worker: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    logs.configure(log_format, level)
    # The neo4j driver logs every server notification at INFO (constraints that already exist, say).
    logging.getLogger("neo4j").setLevel(logging.WARNING)
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s received: finishing the batch in flight", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    return stop


@contextmanager
def _reporting(command: str, snapshot: Callable[[], Snapshot | None], extras: Extras) -> Iterator[Reporter | None]:
    """The reporter and the health server around a run; None (after saying why) when they cannot start."""
    try:
        identity = Identity.from_env(os.environ)
    except ValueError as exc:
        print(f"graphsync-operator worker {command}: {exc}", file=sys.stderr)
        yield None
        return
    logs.bind(pod=identity.pod)
    send, carried = _sender(identity)
    reporter = Reporter(
        pod=identity.pod,
        interval=identity.heartbeat_seconds,
        stuck_after=identity.stuck_seconds,
        progress=snapshot,
        send=send,
        carried=carried,
        config_hash=identity.config_hash,
    )
    extras.component = command
    try:
        server = HealthServer(identity.http_port, reporter, extras)
    except OSError as exc:
        print(f"graphsync-operator worker {command}: port {identity.http_port}: {exc.strerror}", file=sys.stderr)
        yield None
        return
    reporter.start()
    server.start()
    log.info("worker %s of pod %s serving /healthz /readyz /metrics on port %s", command, identity.pod, server.port)
    try:
        yield reporter
    finally:
        if not reporter.finished:
            reporter.finish(Ending(WorkerState.FAILED, "the worker ended unexpectedly"))
        server.close()


def _sender(identity: Identity) -> tuple[heartbeat.Send | None, heartbeat.Carried]:
    """How to report, and what this pod's earlier containers had counted."""
    if identity.lease is None:
        log.info("GRAPHSYNC_LEASE is not set: progress is not reported")
        return None, (0, 0)
    if identity.namespace is None:
        log.warning("GRAPHSYNC_LEASE is set but POD_NAMESPACE is not: progress is not reported")
        return None, (0, 0)
    try:
        client = kube.Kube.connect_with_token()
    except Exception as exc:  # noqa: BLE001 - no reporting is no reason to stop syncing
        log.warning("no Kubernetes API configuration, progress is not reported: %s", exc)
        return None, (0, 0)
    try:
        lease = client.get("coordination.k8s.io/v1", "Lease", identity.namespace, identity.lease) or {}
    except Exception as exc:  # noqa: BLE001 - the reports still go out; only the earlier count is unknown
        log.warning("cannot read the Lease (counts restart from 0 for this container): %s", exc)
        lease = {}
    carried = heartbeat.carried_over(lease.get("metadata", {}).get("annotations"), identity.pod)
    log.info(
        "reporting progress to Lease %s/%s every %ss", identity.namespace, identity.lease, identity.heartbeat_seconds
    )
    return heartbeat.lease_sender(client, namespace=identity.namespace, lease=identity.lease, pod=identity.pod), carried


def _refuse(reporter: Reporter, command: str, message: str) -> int:
    """A spec or job that cannot run: a permanent failure, reported and exited with 2."""
    reporter.finish(Ending(WorkerState.FAILED, message))
    print(f"graphsync-operator worker {command}: {message}", file=sys.stderr)
    return 2


def _number(env: Mapping[str, str], name: str, kind: Callable[[str], Number], default: Number) -> Number:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number") from None
