"""`graphsync-operator worker sync|reconcile|cleanup -f CONFIG`: the process a worker pod runs.

Each subcommand is the engine's `graphsync run`, `graphsync reconcile` or `graphsync cleanup`, through the
engine's own functions (the same options, spec loading, run control, signals, refusals and exit codes), and
besides serves /healthz, /readyz and /metrics (`health`) and reports its progress to the operator in the
pipeline's Lease (`heartbeat`: one annotation per pod, see `graphsync_operator.reports`). The Deployment says
who the worker is through the environment (`identity`); without GRAPHSYNC_LEASE nothing is reported, so it
also runs on a laptop.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from graphsync import deadletters, logs
from graphsync.cleanup import CleanupError, cleanup
from graphsync.commands import cleanup as cleanup_command
from graphsync.commands import process, specfile
from graphsync.commands import reconcile as reconcile_command
from graphsync.commands import run as run_command
from graphsync.commands.progress import summary_text
from graphsync.pipelines import run as pipeline_run
from graphsync.reconcile.pipeline import reconcile
from graphsync.reconcile.report import Outcome
from graphsync.spec.pipeline import Mode, PipelineSpec
from graphsync_operator import kube, reports
from graphsync_operator.reports import WorkerState
from graphsync_operator.worker import heartbeat
from graphsync_operator.worker.health import CLEANUP, RECONCILE, SYNC, DeadLetterCount, Extras, HealthServer
from graphsync_operator.worker.heartbeat import Ending, Reporter
from graphsync_operator.worker.identity import Identity
from graphsync_operator.worker.inspection import Inspector
from graphsync_operator.worker.readings import Snapshot

log = logging.getLogger(__name__)
PROGRAM = "graphsync-operator worker"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser("worker", help="what a worker pod runs: the engine, reporting to the operator")
    commands = worker.add_subparsers(dest="worker_command", required=True)
    sync = commands.add_parser(SYNC, help="run a pipeline until stopped (SIGTERM) or, with --until-idle, done")
    run_command.add_run_arguments(sync)
    sync.set_defaults(handler=run_sync)
    check = commands.add_parser(RECONCILE, help="compare a pipeline's source and target; report or repair")
    reconcile_command.add_job_arguments(check)
    check.set_defaults(handler=run_reconcile)
    clean = commands.add_parser(CLEANUP, help="remove what a deleted pipeline created outside Kubernetes")
    specfile.file_option(run_cleanup)(clean)


def run_sync(args: argparse.Namespace) -> int:
    """Exit status as `graphsync run`: 2 for a bad spec, 1 when items failed, else 0."""
    stop = _prepare()
    tracker = heartbeat.Tracker()
    extras = Extras(snapshot=tracker.snapshot)
    with _reporting(SYNC, tracker.snapshot, extras) as reporter:
        if reporter is None:
            return 2
        try:
            spec = specfile.load(args.file)
        except specfile.SpecError as exc:
            return _refuse(reporter, SYNC, str(exc))
        _name(extras, spec)
        extras.dead_letters = DeadLetterCount(lambda: deadletters.open_count(spec)).start()
        extras.inspect = Inspector(spec)
        reporter.one_shot = args.until_idle or spec.mode is Mode.SNAPSHOT
        # The engine's run as `graphsync run` makes it, told besides what the reports carry.
        control = replace(
            run_command.control(args, stop, tracker),
            probe_seconds=reporter.interval,
            on_backfills=tracker.backfills,
            on_resets=tracker.checkpoint_resets,
            on_schema=tracker.schema_changes,
        )
        try:
            stats = pipeline_run.run(spec, control)
        except ValueError as exc:
            return _refuse(reporter, SYNC, str(exc))
        except Exception as exc:
            log.exception("the run failed")
            reporter.finish(Ending(WorkerState.FAILED, f"{type(exc).__name__}: {exc}"))
            return 1
        tracker.settle(stats)
        reporter.finish(Ending(WorkerState.FINISHED))
    print(summary_text(stats.summary()))
    return run_command.status(stats)


def run_reconcile(args: argparse.Namespace) -> int:
    """Exit status as `graphsync reconcile`: 2 for a bad spec or job, 1 when differences remain or it failed."""
    stop = _prepare()
    began, running = _one_shot()
    extras = Extras()
    with _reporting(RECONCILE, running, extras) as reporter:
        if reporter is None:
            return 2
        reporter.one_shot = True
        try:
            spec = specfile.load(args.file)
            _name(extras, spec)
            job = reconcile_command.job_of(args)
        except specfile.SpecError as exc:
            return _refuse(reporter, RECONCILE, str(exc))
        began.append(time.time())
        try:
            report = reconcile(spec, job, stop)
        except ValueError as exc:
            return _refuse(reporter, RECONCILE, str(exc))
        except Exception as exc:
            # The comparison's own failures are in the report; this is the audit store out of reach, say.
            log.exception("the reconciliation failed")
            reporter.finish(Ending(WorkerState.FAILED, f"{type(exc).__name__}: {exc}"))
            return 1
        summary = report.summary()
        failed = report.outcome is Outcome.FAILED
        reporter.finish(
            Ending(WorkerState.FAILED if failed else WorkerState.FINISHED, report.error),
            reconciliation=reports.Reconciliation.model_validate(summary),
        )
    print(reconcile_command.report_text(summary))
    return reconcile_command.status(report)


def run_cleanup(args: argparse.Namespace) -> int:
    """Exit status as `graphsync cleanup`: 2 for a bad spec, 1 when a side could not be cleaned up, else 0."""
    _prepare()
    began, running = _one_shot()
    extras = Extras()
    with _reporting(CLEANUP, running, extras) as reporter:
        if reporter is None:
            return 2
        reporter.one_shot = True
        try:
            spec = specfile.load(args.file)
        except specfile.SpecError as exc:
            return _refuse(reporter, CLEANUP, str(exc))
        _name(extras, spec)
        began.append(time.time())
        try:
            report = cleanup(spec)
        except CleanupError as exc:
            reporter.finish(Ending(WorkerState.FAILED, str(exc)))
            # What was removed all the same, then each side that failed, as `graphsync cleanup` says them.
            return cleanup_command.failed(
                exc, f"{PROGRAM} {CLEANUP}", lambda summary: print(cleanup_command.report_text(summary))
            )
        except Exception as exc:
            log.exception("the cleanup failed")
            reporter.finish(Ending(WorkerState.FAILED, f"{type(exc).__name__}: {exc}"))
            return 1
        reporter.finish(Ending(WorkerState.FINISHED))
    print(cleanup_command.report_text(report.summary()))
    return 0


def _one_shot() -> tuple[list[float], Callable[[], Snapshot | None]]:
    """For runs that report no progress until they end: append the start time, and they read as running from then."""
    began: list[float] = []

    def running() -> Snapshot | None:
        return Snapshot(progressed_at=began[0]) if began else None

    return began, running


def _name(extras: Extras, spec: PipelineSpec) -> None:
    """From here on, metrics and log lines name the pipeline."""
    extras.pipeline = spec.name
    logs.bind(pipeline=spec.name)


def _prepare() -> threading.Event:
    """Logging as the pod is told (GRAPHSYNC_LOG_FORMAT: text, or json in pods; GRAPHSYNC_LOG_LEVEL: the pipeline's
    `workers.logLevel`), and the stop SIGTERM and SIGINT request."""
    try:
        logs.configure_from_env()
    except ValueError as exc:
        raise SystemExit(specfile.refuse(PROGRAM, str(exc))) from None
    # The neo4j driver logs every server notification at INFO (constraints that already exist, say).
    logging.getLogger("neo4j").setLevel(logging.WARNING)
    return process.stop_on_signals()


@contextmanager
def _reporting(command: str, snapshot: Callable[[], Snapshot | None], extras: Extras) -> Iterator[Reporter | None]:
    """The reporter and the health server around a run; None (after saying why) when they cannot start."""
    try:
        identity = Identity.from_env(os.environ)
    except ValueError as exc:
        print(f"{PROGRAM} {command}: {exc}", file=sys.stderr)
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
        print(f"{PROGRAM} {command}: port {identity.http_port}: {exc.strerror}", file=sys.stderr)
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
    """A spec or job that cannot run: a permanent failure, reported and refused with exit status 2."""
    reporter.finish(Ending(WorkerState.FAILED, message))
    return specfile.refuse(f"{PROGRAM} {command}", message)
