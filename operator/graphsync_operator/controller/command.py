"""`graphsync-operator run`: the operator process (kopf), watching one or more namespaces or the whole cluster."""

from __future__ import annotations

import argparse
import logging

import kopf

from graphsync import logs
from graphsync_operator import metrics

# Registers the handlers with kopf's default registry.
from graphsync_operator.controller import handlers  # noqa: F401
from graphsync_operator.controller.handlers import settings

log = logging.getLogger(__name__)
DEFAULT_METRICS_PORT = 8080


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("run", help="run the operator")
    command.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    command.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    command.add_argument("--liveness", default="http://0.0.0.0:8081/healthz", help="kopf's liveness endpoint")
    command.add_argument(
        "--metrics-port",
        type=_port,
        default=DEFAULT_METRICS_PORT,
        help=f"serve Prometheus metrics on /metrics of this port (default {DEFAULT_METRICS_PORT}; 0: not at all)",
    )
    command.add_argument(
        "--log-level",
        choices=tuple(logs.LEVELS),
        default=None,
        help=f"how much to log (default: {logs.LEVEL_ENV}, else info); debug includes every kopf handler run",
    )
    command.add_argument("-v", "--verbose", action="store_true", help="the same as --log-level debug")
    command.set_defaults(handler=main)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0 to 65535)")
    return port


def main(args: argparse.Namespace) -> int:
    try:
        level = logs.configure_from_env("debug" if args.verbose else args.log_level)
    except ValueError as exc:
        raise SystemExit(f"graphsync-operator run: {exc}") from None
    if level > logging.DEBUG:
        # kopf logs every handler and timer run at INFO: at one timer per pipeline every few seconds, noise.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if not args.all_namespaces and not args.namespace:
        raise SystemExit("graphsync-operator run: name namespaces with -n, or watch all with -A")
    try:
        settings.defaults()
    except ValueError as exc:
        raise SystemExit(f"graphsync-operator run: {exc}") from None
    if args.metrics_port:
        try:
            port = metrics.serve(args.metrics_port)
        except OSError as exc:
            raise SystemExit(f"graphsync-operator run: --metrics-port {args.metrics_port}: {exc.strerror}") from None
        log.info("serving metrics on port %s (/metrics)", port)
    kopf.run(
        standalone=True,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
        # The refresher looks for namespaces being deleted among these itself (see handlers/ending.py).
        memo=kopf.Memo(namespaces=None if args.all_namespaces else list(args.namespace)),
    )
    return 0
