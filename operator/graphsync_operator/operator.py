"""`graphsync-operator run`: the operator process (kopf), watching one or more namespaces or the whole cluster."""

from __future__ import annotations

import argparse
import logging

import kopf

# Registers the handlers with kopf's default registry.
from graphsync_operator import handlers  # noqa: F401


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    command = subparsers.add_parser("run", help="run the operator")
    command.add_argument("-n", "--namespace", action="append", default=[], help="watch this namespace (repeatable)")
    command.add_argument("-A", "--all-namespaces", action="store_true", help="watch every namespace")
    command.add_argument("--liveness", default="http://0.0.0.0:8081/healthz", help="kopf's liveness endpoint")
    command.add_argument("-v", "--verbose", action="store_true")
    command.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        # kopf logs every handler and timer run at INFO: at one timer per pipeline every few seconds, noise.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    if not args.all_namespaces and not args.namespace:
        raise SystemExit("graphsync-operator run: name namespaces with -n, or watch all with -A")
    kopf.run(
        standalone=True,
        clusterwide=args.all_namespaces,
        namespaces=args.namespace,
        liveness_endpoint=args.liveness,
    )
    return 0
