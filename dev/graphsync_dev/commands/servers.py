"""`graphsync-dev up|down|status|env|build`: the local substrate from the command line."""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import TextIO

from graphsync_dev import gotools, neo4j, substrate
from graphsync_dev.process import SubstrateError
from graphsync_dev.service import Service


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = subparsers.add_parser("up", help="build what is missing, start the servers, print their settings")
    up.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(substrate.SERVERS)}")
    up.set_defaults(handler=run)
    for name, text in (
        ("down", "stop the servers and delete their data"),
        ("status", "check every server and exit non-zero if one is unhealthy"),
        ("env", "print the connection settings as shell exports"),
        ("build", "build and cache every server without starting it"),
    ):
        subparsers.add_parser(name, help=text).set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    try:
        return _COMMANDS[args.command](args, out)
    except SubstrateError as exc:
        print(f"graphsync-dev {args.command}: {exc}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace, out: TextIO) -> int:
    run_dir = substrate.dev_run_dir()
    running = {s.name: s for s in substrate.load_state(run_dir) if substrate.check(s)[0]}
    wanted = [name for name in substrate.resolve_names(args.only.split(",")) if name not in running]
    started = substrate.start_all(wanted, run_dir)
    services = [*running.values(), *started]
    substrate.save_state(run_dir, services)
    _report(services, out)
    print(f'\nsettings: eval "$(graphsync-dev env)"   (state in {run_dir})', file=out)
    return 0


def _down(_: argparse.Namespace, out: TextIO) -> int:
    run_dir = substrate.dev_run_dir()
    services = substrate.load_state(run_dir)
    substrate.stop_all(services)
    shutil.rmtree(run_dir, ignore_errors=True)
    print(f"stopped {len(services)} server(s)", file=out)
    return 0


def _status(_: argparse.Namespace, out: TextIO) -> int:
    services = substrate.load_state(substrate.dev_run_dir())
    if not services:
        print("no servers running; start them with: graphsync-dev up", file=out)
        return 1
    return 0 if _report(services, out) else 1


def _env(_: argparse.Namespace, out: TextIO) -> int:
    env = substrate.merged_env(substrate.load_state(substrate.dev_run_dir()))
    for line in substrate.export_lines(env):
        print(line, file=out)
    return 0


def _build(_: argparse.Namespace, out: TextIO) -> int:
    for tool, path in gotools.ensure_all().items():
        print(f"{tool:<24} {path}", file=out)
    print(f"{'neo4j':<24} {neo4j.ensure_built()}", file=out)
    return 0


def _report(services: list[Service], out: TextIO) -> bool:
    healthy = True
    for service in services:
        ok, detail = substrate.check(service)
        healthy = healthy and ok
        print(f"{service.name:<11} {'healthy' if ok else 'UNHEALTHY':<10} {detail}", file=out)
    return healthy


_COMMANDS = {"up": _up, "down": _down, "status": _status, "env": _env, "build": _build}
